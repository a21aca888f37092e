-- Takes up to `max` ready jobs of one queue (queued, or scheduled and due),
-- best first: highest priority, then earliest run-at, then first enqueued.
-- Each starts a new attempt under the lease token given for it. The job's
-- body keeps its state from before the claim; the claim itself is stored in
-- the header (worker, lease, time, token), from which the reader derives
-- the running job with the same pure function that decided it
-- (`state::claim`).
-- ARGV[3]: now, [4]: max, [5]: worker (hex), [6]: lease ms,
-- [7..]: one token per job.
-- Returns per job: id, the job as stored before the claim, token, ready key.
local now, max = tonumber(ARGV[3]), tonumber(ARGV[4])
local worker, lease = ARGV[5], ARGV[6]
local candidates = redis.call('ZRANGE', K_READY, '-', '+', 'BYLEX', 'LIMIT', 0, max)
local due = redis.call('ZRANGEBYSCORE', K_SCHED, '-inf', now, 'LIMIT', 0, max)
for _, id in ipairs(due) do
  local cur = parse(redis.call('GET', PREFIX .. id))
  if cur and cur[F_STATUS] == 'scheduled' then
    candidates[#candidates + 1] = cur[F_RK] .. '|' .. id
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
  local stored = redis.call('GET', key)
  local cur = parse(stored)
  local status = cur and cur[F_STATUS]
  if status == 'scheduled' then
    zrem(K_SCHED, id)
  else
    -- Also drops a stale entry (cannot happen unless keys were edited).
    zrem(K_READY, member)
  end
  if status == 'queued' or status == 'scheduled' then
    taken = taken + 1
    local token = ARGV[6 + taken]
    local attempt = (tonumber(cur[F_ATTEMPT]) or 0) + 1
    cur[F_STATUS], cur[F_TOKEN], cur[F_ATTEMPT], cur[F_ERROR] = 'running', token, attempt, ''
    cur[F_WORKER], cur[F_LEASE], cur[F_CLAIMED] = worker, lease, ARGV[3]
    redis.call('SET', key, format(cur, body_of(stored)))
    zadd(K_RUN, until_ms, id)
    emit(id, cur[F_KIND], 'running', attempt, '0', false, false, ARGV[3])
    out[#out + 1] = { id, stored, token, string.sub(member, 1, READY_KEY_LEN) }
  end
end
flush()
publish()
return out
