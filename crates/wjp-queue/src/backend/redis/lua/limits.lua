-- Sets the queue's limits (see limit_room in common.lua): ARGV[3] the
-- most jobs running at once, ARGV[4] claims per period, ARGV[5] the period
-- in ms, ARGV[6] the most jobs of one fairness group running at once
-- (`per_group`, see take_in_turns); '' for none. With none, the queue has no limits key. The rate
-- window starts afresh. Wakes waiting workers: a claim may take more now.
redis_call('DEL', K_LIMITS)
local fields = {}
if ARGV[3] ~= '' then
  fields[#fields + 1] = 'max_running'
  fields[#fields + 1] = ARGV[3]
end
if ARGV[4] ~= '' then
  fields[#fields + 1] = 'rate'
  fields[#fields + 1] = ARGV[4]
  fields[#fields + 1] = 'per'
  fields[#fields + 1] = ARGV[5]
  fields[#fields + 1] = 'start'
  fields[#fields + 1] = '0'
  fields[#fields + 1] = 'claims'
  fields[#fields + 1] = '0'
end
if ARGV[6] ~= '' then
  fields[#fields + 1] = 'per_group'
  fields[#fields + 1] = ARGV[6]
end
if #fields > 0 then redis_call('HSET', K_LIMITS, unpack(fields)) end
wake()
return 1
