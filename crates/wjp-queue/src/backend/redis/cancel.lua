-- Flags a running job as cancelled; its worker sees it at the next renewal.
-- ARGV[3]: now, [4]: id. KEYS[12]: job hash. Returns 1 if it was running.
local key, id = KEYS[12], ARGV[4]
local cur = redis.call('HMGET', key, 'status', 'kind', 'attempt', 'pg')
if cur[1] ~= 'running' then return 0 end
redis.call('HSET', key, 'cx', '1')
emit(id, cur[2], 'running', cur[3], cur[4] or '0', 'cancel requested', false, ARGV[3])
return 1
