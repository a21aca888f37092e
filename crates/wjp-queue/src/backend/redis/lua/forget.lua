-- Deletes one failed or cancelled job of this queue, so its id can be
-- enqueued afresh in another queue. ARGV[3]: id. KEYS[JOB_KEYS + 1]: job key.
-- Returns the stored job when it exists and is not reusable, else 1.
local key, id = KEYS[JOB_KEYS + 1], ARGV[3]
local cur = load(id, key)
if not cur then return 1 end
if cur[F_STATUS] ~= 'failed' and cur[F_STATUS] ~= 'cancelled' then
  return view(key, cur)
end
unindex(id, cur[F_STATUS], cur[F_RK])
zrem(K_ALL, id)
flush()
records.delete(key)
return 1
