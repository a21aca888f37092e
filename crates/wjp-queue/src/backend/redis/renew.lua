-- Extends leases of running jobs of one queue.
-- ARGV[3]: until. Per lease from ARGV[4]: id, token. KEYS[11 + i]: job key.
-- Returns per lease: 0 lost, 1 held, 2 held and cancel requested.
local until_ms = ARGV[3]
local n = (#ARGV - 3) / 2
local out = {}
for i = 1, n do
  local id, token = ARGV[2 + i * 2], ARGV[3 + i * 2]
  local key = KEYS[11 + i]
  local stored = redis.call('GET', key)
  local cur = parse(stored)
  if cur and cur[F_STATUS] == 'running' and cur[F_TOKEN] == token then
    cur[F_UNTIL] = until_ms
    redis.call('SET', key, format(cur, body_of(stored)))
    zadd(K_RUN, until_ms, id)
    if cur[F_CANCEL] == '1' then out[i] = 2 else out[i] = 1 end
  else
    out[i] = 0
  end
end
flush()
return out
