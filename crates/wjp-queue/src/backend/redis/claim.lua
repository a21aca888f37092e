-- Takes up to `max` ready jobs of one queue (queued, or scheduled and due),
-- best first: highest priority, then earliest run-at, then first enqueued.
-- Each starts a new attempt under the lease token given for it: the claim
-- is one entry in the lease hash, and the job's hash stays as it was (see
-- common.lua). The caller fetches the bodies itself and derives the
-- running jobs with the same pure function that decided them
-- (`state::claim`).
-- ARGV[3]: now, [4]: max, [5]: worker (hex), [6]: lease ms,
-- [7..]: one token per job.
-- Returns per job: id, token, ready key.
local now, max = tonumber(ARGV[3]), tonumber(ARGV[4])
local worker, lease = ARGV[5], ARGV[6]
local candidates = redis.call('ZRANGE', K_READY, '-', '+', 'BYLEX', 'LIMIT', 0, max)
local due = redis.call('ZRANGEBYSCORE', K_SCHED, '-inf', now, 'LIMIT', 0, max)
local scheduled = {}
for _, id in ipairs(due) do
  local cur = parse(redis.call('HGET', PREFIX .. id, 'h'))
  if cur and cur[F_STATUS] == 'scheduled' and redis.call('HEXISTS', K_LEASES, id) == 0 then
    candidates[#candidates + 1] = cur[F_RK] .. '|' .. id
    scheduled[id] = true
  else
    zrem(K_SCHED, id)
  end
end
if #due > 0 then table.sort(candidates) end
local until_ms = int(now + tonumber(lease))
local out = {}
for _, member in ipairs(candidates) do
  if #out >= max then break end
  local id = string.sub(member, READY_KEY_LEN + 2)
  local cur = parse_head(redis.call('HGET', PREFIX .. id, 'h'))
  local status = cur and cur[F_STATUS]
  if scheduled[id] then
    zrem(K_SCHED, id)
  else
    -- Also drops a stale entry (cannot happen unless keys were edited).
    zrem(K_READY, member)
  end
  if status == 'queued' or status == 'scheduled' then
    local token = ARGV[7 + #out]
    local attempt = (tonumber(cur[F_ATTEMPT]) or 0) + 1
    set_lease(id, token .. '|' .. attempt .. '|' .. worker .. '|' .. lease .. '|' .. ARGV[3] ..
      '|' .. until_ms .. '||||' .. cur[F_KIND])
    emit(id, cur[F_KIND], 'running', attempt, '0', false, false, ARGV[3])
    out[#out + 1] = { id, token, string.sub(member, 1, READY_KEY_LEN) }
  end
end
flush()
publish()
return out
