-- Deletes one failed or cancelled job of this queue, so its id can be
-- enqueued afresh in another queue. ARGV[3]: id. KEYS[12]: job hash.
-- Returns the stored hash when the job exists and is not reusable, else 1.
local key, id = KEYS[12], ARGV[3]
local status = redis.call('HGET', key, 'status')
if not status then return 1 end
if status ~= 'failed' and status ~= 'cancelled' then
  return redis.call('HGETALL', key)
end
unindex(key, id, status)
redis.call('ZREM', K_ALL, id)
redis.call('DEL', key)
return 1
