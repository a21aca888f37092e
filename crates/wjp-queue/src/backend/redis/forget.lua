-- Deletes one failed or cancelled job of this queue, so its id can be
-- enqueued afresh in another queue. ARGV[3]: id. KEYS[12]: job hash.
-- Returns the stored hash when the job exists and is not reusable, else 1.
local key, id = KEYS[12], ARGV[3]
local cur = redis.call('HMGET', key, 'status', 'rk')
if not cur[1] then return 1 end
if cur[1] ~= 'failed' and cur[1] ~= 'cancelled' then
  return redis.call('HGETALL', key)
end
unindex(id, cur[1], cur[2])
zrem(K_ALL, id)
flush()
redis.call('DEL', key)
return 1
