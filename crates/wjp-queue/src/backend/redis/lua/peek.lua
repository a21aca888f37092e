-- How many jobs of one queue a claim could take now, at most `max`,
-- without taking them: a claim from several queues takes from each, in
-- their order, as many as it holds (claim.rs). ARGV[3]: now, [4]: max.
if redis_call('EXISTS', K_PAUSED) == 1 then return 0 end
local now, max = tonumber(ARGV[3]), tonumber(ARGV[4])
max = limit_room(max)
if max == 0 then return 0 end
local n = math.min(ready_count(), max)
if n < max then
  for _, id in ipairs(redis_call('ZRANGEBYSCORE', K_SCHED, '-inf', now, 'LIMIT', 0, max)) do
    local cur = stored(PREFIX .. id)
    if cur and cur[F_STATUS] == 'scheduled' then n = n + 1 end
  end
end
-- Queued jobs of fairness groups count too; a group's cap is not looked
-- at here.
return math.min(n + grouped_ready(), max)
