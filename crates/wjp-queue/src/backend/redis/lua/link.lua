-- Registers a dependant with parents of this queue (see `parent_ended` in
-- common.lua): a parent that has not ended gets the dependant in its set.
-- ARGV[3]: the dependant, `<queue>/<id>`; ARGV[4..]: the parents' ids.
-- KEYS[JOB_KEYS + i]: the i-th parent's key.
-- Returns per parent: 'live' (registered), the status it ended in
-- ('completed', 'failed', 'cancelled'), 'gone' (no such job), or 'busy'
-- (it ended before, was retried, and that end is not delivered yet: try
-- again once it is).
local ref = ARGV[3]
local out = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local cur = load(id, KEYS[JOB_KEYS + i - 3])
  if not cur then
    out[#out + 1] = 'gone'
  elseif K_ENDED[cur[F_STATUS]] then
    out[#out + 1] = cur[F_STATUS]
  elseif redis_call('HEXISTS', K_OUTBOX, id) == 1 then
    out[#out + 1] = 'busy'
  else
    redis_call('SADD', K_DEPS .. ':' .. id, ref)
    redis_call('HSET', K_DEPS, id, '1')
    out[#out + 1] = 'live'
  end
end
return out
