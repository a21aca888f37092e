-- Flags a running job as cancelled; its worker sees it at the next renewal.
-- ARGV[3]: now, [4]: id. Returns 1 if it was running.
local id = ARGV[4]
local l = parse_lease(redis_call('HGET', K_LEASES, id))
if not l then return 0 end
l[L_CANCEL] = '1'
set_lease(id, lease_text(l))
flush()
local progress = l[L_PROGRESS]
if progress == '' then progress = '0' end
-- 'cancel requested', hex-encoded like every message.
emit(id, l[L_KIND], 'running', l[L_ATTEMPT], progress, '63616e63656c20726571756573746564',
  false, ARGV[3])
publish()
return 1
