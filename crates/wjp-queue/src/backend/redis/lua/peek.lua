-- The ready keys of the best `max` ready jobs of one queue, best first,
-- without taking them (to share a claim among several queues, in order).
-- ARGV[3]: now, [4]: max.
if redis_call('EXISTS', K_PAUSED) == 1 then return {} end
local now, max = tonumber(ARGV[3]), tonumber(ARGV[4])
max = limit_room(max)
if max == 0 then return {} end
local out = {}
for _, member in ipairs(redis_call('ZRANGE', K_READY, '-', '+', 'BYLEX', 'LIMIT', 0, max)) do
  out[#out + 1] = sub(member, 1, READY_KEY_LEN)
end
for _, id in ipairs(redis_call('ZRANGEBYSCORE', K_SCHED, '-inf', now, 'LIMIT', 0, max)) do
  local cur = stored(PREFIX .. id)
  if cur and cur[F_STATUS] == 'scheduled' then out[#out + 1] = cur[F_RK] end
end
-- Queued jobs of fairness groups count too (placeholders: the caller
-- counts, and they sort last); a group's cap is not looked at here.
for _ = 1, math.min(grouped_ready(), max - #out) do out[#out + 1] = '~' end
sort_bytewise(out)
while #out > max do table.remove(out) end
return out
