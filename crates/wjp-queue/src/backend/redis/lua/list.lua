-- Lists jobs of one queue, newest first, below a list score.
-- ARGV[3]: exclusive upper bound ('+inf' or '(score'), [4]: status or '',
-- [5]: how many, [6]: how many index entries to look at at most, [7]: kind
-- or ''.
-- Returns {resume bound or '' when the index is exhausted, score1, job1, ...}.
local bound, status = ARGV[3], ARGV[4]
local want, cap, kind = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local source = K_ALL
if K_ENDED[status] then source = K_ENDED[status] end
local out = { '' }
local found, scanned = 0, 0
local exhausted = false
while found < want and scanned < cap do
  local chunk = redis_call('ZREVRANGEBYSCORE', source, bound, '-inf', 'WITHSCORES', 'LIMIT', 0, 100)
  if #chunk == 0 then
    exhausted = true
    break
  end
  for i = 1, #chunk, 2 do
    local id, score = chunk[i], chunk[i + 1]
    scanned = scanned + 1
    bound = '(' .. score
    local key = PREFIX .. id
    local cur = load(id, key)
    if cur and (status == '' or cur[F_STATUS] == status) and (kind == '' or cur[F_KIND] == kind) then
      out[#out + 1] = score
      out[#out + 1] = view(key, cur)
      found = found + 1
      if found >= want then break end
    end
  end
end
if not exhausted then out[1] = bound end
return out
