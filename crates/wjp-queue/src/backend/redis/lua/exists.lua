-- How many of the given jobs of one queue have a record, packed or a key
-- of its own (see `records` in common.lua), expired or not.
-- KEYS[JOB_KEYS + i]: the job keys.
local n = 0
for i = JOB_KEYS + 1, #KEYS do
  local hash, id = records.hash_of(KEYS[i])
  if redis_call('HEXISTS', hash, id) == 1 or redis_call('EXISTS', KEYS[i]) == 1 then n = n + 1 end
end
return n
