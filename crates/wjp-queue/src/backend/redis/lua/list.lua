-- Lists jobs of one queue, newest first, below a list score.
-- ARGV[3]: exclusive upper bound ('+inf' or '(score'), [4]: status or '',
-- [5]: how many, [6]: how many index entries to look at at most, [7]: kind
-- or ''.
-- Returns {resume bound or '' when the indexes are exhausted, score1, job1, ...}.
-- Waiting and running jobs are listed by K_ALL, ended ones by the index of
-- their status (see `keep_listed`): a listing of every status merges the
-- four by score. An entry of K_ALL for an ended job (the earlier layout
-- put them there) is left to its status's index, so no job shows twice.
local bound, status = ARGV[3], ARGV[4]
local want, cap, kind = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
-- Each source: its key, and the status its jobs must have ('' for any
-- status that is not ended).
local sources
if K_ENDED[status] then
  sources = { { K_ENDED[status], status } }
elseif status ~= '' then
  sources = { { K_ALL, status } }
else
  sources = { { K_ALL, '' }, { K_ENDED.completed, 'completed' }, { K_ENDED.failed, 'failed' },
    { K_ENDED.cancelled, 'cancelled' } }
end
local CHUNK_ENTRIES = 100
local out = { '' }
local found, scanned = 0, 0
local exhausted = false
while found < want and scanned < cap do
  -- The next entries of every source below the bound, merged newest
  -- first. Past the last entry of a source that gave a whole chunk, that
  -- source may hold entries not read yet: the merge stops there.
  local entries, floor = {}, nil
  for _, source in ipairs(sources) do
    local chunk = redis_call('ZREVRANGEBYSCORE', source[1], bound, '-inf', 'WITHSCORES', 'LIMIT',
      0, CHUNK_ENTRIES)
    for i = 1, #chunk, 2 do
      entries[#entries + 1] = { tonumber(chunk[i + 1]), chunk[i + 1], chunk[i], source[2] }
    end
    if #chunk == 2 * CHUNK_ENTRIES then
      local last = tonumber(chunk[#chunk])
      if not floor or last > floor then floor = last end
    end
  end
  if #entries == 0 then
    exhausted = true
    break
  end
  if #sources > 1 then
    table.sort(entries, function(a, b) return a[1] > b[1] end)
  end
  for _, e in ipairs(entries) do
    if floor and e[1] < floor then break end
    local score, id, must = e[2], e[3], e[4]
    scanned = scanned + 1
    bound = '(' .. score
    local key = PREFIX .. id
    local cur = load(id, key)
    local listed = cur and (must == '' and not K_ENDED[cur[F_STATUS]] or cur[F_STATUS] == must)
    if listed and (kind == '' or cur[F_KIND] == kind) then
      out[#out + 1] = score
      out[#out + 1] = view(key, cur)
      found = found + 1
    end
    if found >= want or scanned >= cap then break end
  end
end
if not exhausted then out[1] = bound end
return out
