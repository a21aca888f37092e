-- Reads jobs of one queue as readers must see them (running ones merged
-- with their lease). KEYS[JOB_KEYS + i]: the job keys; ARGV[3..]: their ids.
-- Returns per job its stored form, or false when there is none.
local out = {}
for i = 3, #ARGV do
  local key = KEYS[JOB_KEYS + i - 2]
  local cur = load(ARGV[i], key)
  if cur then out[#out + 1] = view(key, cur) else out[#out + 1] = false end
end
return out
