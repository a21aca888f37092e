-- Records progress of running jobs of one queue (ignored on a stale lease).
-- ARGV[3]: now. Per update from ARGV[4]: id, token, progress, message
-- ('-' or '+text'). KEYS[11 + i]: job hash. Returns per update 1 or 0.
local now = ARGV[3]
local N = 4
local n = (#ARGV - 3) / N
local out = {}
for i = 1, n do
  local b = 3 + (i - 1) * N
  local id, token, progress = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
  local message = optional(ARGV[b + 4])
  local key = KEYS[11 + i]
  local cur = redis.call('HMGET', key, 'status', 'token', 'kind', 'attempt')
  if cur[1] == 'running' and cur[2] == token then
    redis.call('HSET', key, 'pg', progress)
    if message then
      redis.call('HSET', key, 'pm', message)
    else
      redis.call('HDEL', key, 'pm')
    end
    emit(id, cur[3], 'running', cur[4], progress, message, false, now)
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
