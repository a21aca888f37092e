-- Deletes ended jobs of one queue past their TTL (Redis has usually expired
-- the record already; this cleans the indexes) and trims old events.
-- ARGV[3]: now, [4]: limit, [5]: oldest event id to keep.
-- Returns {deleted, index entries looked at}.
local ids = redis_call('ZRANGEBYSCORE', K_EXP, '-inf', ARGV[3], 'LIMIT', 0, tonumber(ARGV[4]))
local deleted = 0
for _, id in ipairs(ids) do
  local key = PREFIX .. id
  zrem(K_EXP, id)
  local cur = parse(stored_head(key))
  local status = cur and cur[F_STATUS]
  if not status or K_ENDED[status] then
    for _, k in pairs(K_ENDED) do zrem(k, id) end
    zrem(K_ALL, id)
    if status then redis_call('DEL', key) end
    deleted = deleted + 1
  else
    -- The id was enqueued afresh after its old record expired.
    for s, k in pairs(K_ENDED) do
      if s ~= status then zrem(k, id) end
    end
  end
end
flush()
redis_call('XTRIM', K_EVENTS, 'MINID', '~', ARGV[5])
return { deleted, #ids }
