-- Applies guarded transitions to jobs of one queue: each applies only if
-- the stored job still has the expected status and lease token.
-- Per transition (15 arguments from ARGV[3]): id, expected status,
-- expected token ('' for none), new status, new token ('' for none), body,
-- attempt, error kind ('' for none), priority, run_at, lease until,
-- expires_at, event progress ('' for none), event message ('-' or '+text'),
-- event time. KEYS[11 + i]: the job's hash.
-- Returns per transition: 1 applied, 0 refused.
local N = 15
local n = (#ARGV - 2) / N
local out = {}
local woke = false
for i = 1, n do
  local b = 2 + (i - 1) * N
  local id = ARGV[b + 1]
  local key = KEYS[11 + i]
  local cur = redis.call('HMGET', key, 'status', 'token', 'seq', 'ls', 'kind', 'rk')
  local old = cur[1]
  if old == ARGV[b + 2] and (cur[2] or '') == ARGV[b + 3] then
    local status, token = ARGV[b + 4], ARGV[b + 5]
    local run_at = ARGV[b + 10]
    unindex(id, old, cur[6])
    if old == 'running' then
      redis.call('HDEL', key, 'token', 'cw', 'cl', 'cn', 'lu', 'pg', 'pm', 'cx')
    end
    local fields = { 'status', status, 'body', ARGV[b + 6], 'attempt', ARGV[b + 7],
      'ek', ARGV[b + 8] }
    if token ~= '' then
      fields[#fields + 1] = 'token'
      fields[#fields + 1] = token
    end
    local rk = false
    if status == 'queued' or status == 'scheduled' then
      rk = ready_key(ARGV[b + 9], run_at, cur[3])
      fields[#fields + 1] = 'rk'
      fields[#fields + 1] = rk
    end
    redis.call('HSET', key, unpack(fields))
    index(id, status, rk, run_at, cur[4], ARGV[b + 11], ARGV[b + 12])
    if K_ENDED[status] then
      redis.call('PEXPIREAT', key, ARGV[b + 12])
    elseif K_ENDED[old] then
      redis.call('PERSIST', key)
    end
    emit(id, cur[5], status, ARGV[b + 7], ARGV[b + 13], optional(ARGV[b + 14]), ARGV[b + 8],
      ARGV[b + 15])
    if status == 'queued' then woke = true end
    out[i] = 1
  else
    out[i] = 0
  end
end
flush()
if woke then wake() end
return out
