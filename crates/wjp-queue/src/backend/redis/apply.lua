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
  local cur = redis.call('HMGET', key, 'status', 'token', 'seq', 'ls', 'kind')
  if cur[1] == ARGV[b + 2] and (cur[2] or '') == ARGV[b + 3] then
    local status, token = ARGV[b + 4], ARGV[b + 5]
    unindex(key, id, cur[1])
    redis.call('HDEL', key, 'token', 'cw', 'cl', 'cn', 'lu', 'pg', 'pm', 'cx')
    redis.call('HSET', key, 'status', status, 'body', ARGV[b + 6], 'attempt', ARGV[b + 7],
      'ek', ARGV[b + 8])
    if token ~= '' then redis.call('HSET', key, 'token', token) end
    index(key, id, status, ARGV[b + 10], ARGV[b + 9], cur[3], cur[4], ARGV[b + 11],
      ARGV[b + 12])
    emit(id, cur[5], status, ARGV[b + 7], ARGV[b + 13], optional(ARGV[b + 14]), ARGV[b + 8],
      ARGV[b + 15])
    if status == 'queued' then woke = true end
    out[i] = 1
  else
    out[i] = 0
  end
end
if woke then wake() end
return out
