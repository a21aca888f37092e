-- Takes up to `max` ready jobs of one queue (queued, or scheduled and due),
-- best first: highest priority, then earliest run-at, then first enqueued.
-- Each starts a new attempt under the lease token given for it. The job's
-- body keeps its state from before the claim; the claim itself is stored as
-- fields (worker `cw`, lease `cl`, time `cn`, `token`), from which the
-- reader derives the running job with the same pure function that decided
-- it (`state::claim`). No other fields need clearing: every way into a
-- waiting status (insert, apply) leaves none of a previous run's behind.
-- ARGV[3]: now, [4]: max, [5]: worker, [6]: lease ms, [7..]: one token per job.
-- Returns per job: id, body (before the claim), token, ready key.
local now, max = tonumber(ARGV[3]), tonumber(ARGV[4])
local worker, lease = ARGV[5], ARGV[6]
local candidates = redis.call('ZRANGE', K_READY, '-', '+', 'BYLEX', 'LIMIT', 0, max)
local due = redis.call('ZRANGEBYSCORE', K_SCHED, '-inf', now, 'LIMIT', 0, max)
for _, id in ipairs(due) do
  local rk = redis.call('HGET', PREFIX .. id, 'rk')
  if rk then
    candidates[#candidates + 1] = rk .. '|' .. id
  else
    zrem(K_SCHED, id)
  end
end
if #due > 0 then table.sort(candidates) end
local until_ms = int(now + tonumber(lease))
local out = {}
local taken = 0
for _, member in ipairs(candidates) do
  if taken >= max then break end
  local id = string.sub(member, READY_KEY_LEN + 2)
  local key = PREFIX .. id
  local cur = redis.call('HMGET', key, 'status', 'body', 'kind', 'attempt')
  if cur[1] == 'queued' then
    zrem(K_READY, member)
  elseif cur[1] == 'scheduled' then
    zrem(K_SCHED, id)
  else
    -- A stale index entry (cannot happen unless keys were edited by hand).
    zrem(K_READY, member)
    zrem(K_SCHED, id)
  end
  if cur[1] == 'queued' or cur[1] == 'scheduled' then
    taken = taken + 1
    local token = ARGV[6 + taken]
    local attempt = (tonumber(cur[4]) or 0) + 1
    redis.call('HSET', key, 'status', 'running', 'token', token, 'cw', worker, 'cl', lease,
      'cn', ARGV[3], 'ek', '', 'attempt', attempt)
    zadd(K_RUN, until_ms, id)
    emit(id, cur[3], 'running', attempt, '0', false, false, ARGV[3])
    out[#out + 1] = { id, cur[2], token, string.sub(member, 1, READY_KEY_LEN) }
  end
end
flush()
return out
