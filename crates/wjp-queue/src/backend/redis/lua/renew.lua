-- Extends leases of running jobs of one queue: only their lease entries
-- change. ARGV[3]: until. Per lease from ARGV[4]: id, token.
-- Returns per lease: 0 lost, 1 held, 2 held and cancel requested.
local until_ms = ARGV[3]
local n = (#ARGV - 3) / 2
local ids = {}
for i = 1, n do ids[i] = ARGV[2 + i * 2] end
local leases = redis_call('HMGET', K_LEASES, unpack(ids))
local out = {}
for i = 1, n do
  local id, token = ids[i], ARGV[3 + i * 2]
  local l = parse_lease(leases[i])
  if l and l[L_TOKEN] == token then
    l[L_UNTIL] = until_ms
    set_lease(id, lease_text(l))
    if l[L_CANCEL] == '1' then out[i] = 2 else out[i] = 1 end
  else
    out[i] = 0
  end
end
flush()
return out
