-- Flags a running job as cancelled; its worker sees it at the next renewal.
-- ARGV[3]: now, [4]: id. KEYS[12]: job key. Returns 1 if it was running.
local key, id = KEYS[12], ARGV[4]
local stored = redis.call('GET', key)
  local cur = parse(stored)
if not cur or cur[F_STATUS] ~= 'running' then return 0 end
cur[F_CANCEL] = '1'
redis.call('SET', key, format(cur, body_of(stored)))
local progress = cur[F_PROGRESS]
if progress == '' then progress = '0' end
-- 'cancel requested', hex-encoded like every message.
emit(id, cur[F_KIND], 'running', cur[F_ATTEMPT], progress, '63616e63656c20726571756573746564',
  false, ARGV[3])
publish()
return 1
