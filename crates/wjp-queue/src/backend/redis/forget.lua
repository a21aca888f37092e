-- Deletes one failed or cancelled job of this queue, so its id can be
-- enqueued afresh in another queue. ARGV[3]: id. KEYS[12]: job key.
-- Returns the stored job when it exists and is not reusable, else 1.
local key, id = KEYS[12], ARGV[3]
local stored = redis.call('GET', key)
local cur = parse(stored)
if not cur then return 1 end
if cur[F_STATUS] ~= 'failed' and cur[F_STATUS] ~= 'cancelled' then
  return stored
end
unindex(id, cur[F_STATUS], cur[F_RK])
zrem(K_ALL, id)
flush()
redis.call('DEL', key)
return 1
