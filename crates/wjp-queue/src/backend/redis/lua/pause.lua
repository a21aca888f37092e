-- Pauses (ARGV[3] = '1') or resumes (ARGV[3] = '0') the queue: while its
-- `paused` key exists, claims and peeks take nothing from it. Resuming
-- wakes workers blocked waiting for its jobs. Returns 1 if that changed
-- anything, else 0.
if ARGV[3] == '1' then
  return redis_call('SET', K_PAUSED, '1', 'NX') and 1 or 0
end
local removed = redis_call('DEL', K_PAUSED)
if removed == 1 then wake() end
return removed
