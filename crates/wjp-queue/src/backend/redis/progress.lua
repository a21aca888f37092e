-- Records progress of running jobs of one queue (ignored on a stale lease).
-- ARGV[3]: now. Per update from ARGV[4]: id, token, progress, message
-- (hex, '' for none). KEYS[11 + i]: job key. Returns per update 1 or 0.
local now = ARGV[3]
local N = 4
local n = (#ARGV - 3) / N
local out = {}
for i = 1, n do
  local b = 3 + (i - 1) * N
  local id, token, progress, message = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]
  local key = KEYS[11 + i]
  local stored = redis.call('GET', key)
  local cur = parse(stored)
  if cur and cur[F_STATUS] == 'running' and cur[F_TOKEN] == token then
    cur[F_PROGRESS], cur[F_MESSAGE] = progress, message
    redis.call('SET', key, format(cur, body_of(stored)))
    emit(id, cur[F_KIND], 'running', cur[F_ATTEMPT], progress, message, false, now)
    out[i] = 1
  else
    out[i] = 0
  end
end
publish()
return out
