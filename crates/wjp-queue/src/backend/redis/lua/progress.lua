-- Records progress of running jobs of one queue (ignored on a stale
-- lease): only their lease entries change. ARGV[3]: now. Per update from
-- ARGV[4]: id, token, progress, note (the message and any detail, hex:
-- `note_hex` in reply.rs; '' for none).
-- Returns per update 1 or 0.
local now = ARGV[3]
local N = 4
local n = (#ARGV - 3) / N
local ids = {}
for i = 1, n do ids[i] = ARGV[3 + (i - 1) * N + 1] end
local leases = redis_call('HMGET', K_LEASES, unpack(ids))
local out = {}
for i = 1, n do
  local b = 3 + (i - 1) * N
  local id, token, progress, message = ids[i], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]
  local l = parse_lease(leases[i])
  if l and l[L_TOKEN] == token then
    l[L_PROGRESS], l[L_MESSAGE] = progress, message
    set_lease(id, lease_text(l))
    emit(id, l[L_KIND], 'running', l[L_ATTEMPT], progress, message, false, now)
    out[i] = 1
  else
    out[i] = 0
  end
end
flush()
publish()
return out
