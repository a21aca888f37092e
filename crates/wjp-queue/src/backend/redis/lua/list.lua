-- Lists jobs of one queue, newest first, below a list score.
-- ARGV[3]: where the listing starts: '+inf', '(score' (below the score),
-- or 'score:id' (below the score, and at the score the ids below `id`
-- byte by byte: jobs of equal score are listed the greater id first, so a
-- page that ends inside a run of them goes on with the rest), [4]: status or '',
-- [5]: how many, [6]: how many index entries to look at at most, [7]: kind
-- or ''.
-- Returns {resume bound or '' when the indexes are exhausted, score1, job1, ...}.
-- Each job is listed from one place (common.lua, `index`): a waiting job
-- from K_ALL, a queued job of the ready list from the list, a running job
-- from the lease hash, an ended one from the index of its status. A
-- listing merges the places its status needs by score. An entry of K_ALL
-- for a running or ended job (a claim by an earlier version left it; the
-- earlier layout put ended jobs there too) is left to the lease hash or
-- its status's index, and a list job that has a K_ALL entry (the earlier
-- layout) to K_ALL, so no job shows twice.
local bound, status = ARGV[3], ARGV[4]
local want, cap, kind = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
-- The bound as a number (list scores, ms times a thousand, are exact in a
-- double), the id below which a job of that very score is listed (nil:
-- none is), and the highest score a sorted set is read from, as text.
local below, below_id, top = math.huge, nil, bound
if bound ~= '+inf' then
  if sub(bound, 1, 1) == '(' then
    below = tonumber(sub(bound, 2))
  else
    local colon = string.find(bound, ':', 1, true)
    top = sub(bound, 1, colon - 1)
    below, below_id = tonumber(top), sub(bound, colon + 1)
  end
end
-- Whether a job with `score` and `id` comes after the start.
local function listed_after(score, id)
  return score < below or (below_id ~= nil and score == below and byte_order(id, below_id))
end
local CHUNK_ENTRIES = 100

-- A source gives entries {score, score text, id, status it must have ('' for
-- any that is neither ended nor running)} newest first: `buf` from `at`
-- on, refilled by `fill` until `done`. Sources that must read a record
-- to learn its score read only its start (`ready.list_score_of`): the
-- merge reads whole headers of the entries it looks at.
local function source(fill)
  return { buf = {}, at = 1, done = false, fill = fill }
end
local function head(s)
  while s.at > #s.buf and not s.done do
    s.buf, s.at = {}, 1
    s.fill(s)
  end
  return s.buf[s.at]
end

-- A sorted set of ids by list score, read in chunks below the bound the
-- call was given (`bound` moves down as the merge goes).
local function sorted_set(key, must)
  local offset = 0
  return source(function(s)
    local chunk = redis_call('ZREVRANGEBYSCORE', key, top, '-inf', 'WITHSCORES', 'LIMIT',
      offset, CHUNK_ENTRIES)
    offset = offset + #chunk / 2
    s.done = #chunk < 2 * CHUNK_ENTRIES
    for i = 1, #chunk, 2 do
      local score, id = tonumber(chunk[i + 1]), chunk[i]
      if listed_after(score, id) then
        s.buf[#s.buf + 1] = { score, chunk[i + 1], id, must }
      end
    end
  end)
end

-- Running jobs, from the lease hash: a few per worker slot, read whole
-- (as the reaper reads it).
local function running()
  return source(function(s)
    s.done = true
    for _, id in ipairs(redis_call('HKEYS', K_LEASES)) do
      local text = ready.list_score_of(id)
      local score = tonumber(text)
      if score and listed_after(score, id) then s.buf[#s.buf + 1] = { score, text, id, 'running' } end
    end
    -- Equal scores as ZREVRANGEBYSCORE gives them: the greater id first.
    table.sort(s.buf, function(a, b)
      if a[1] ~= b[1] then return a[1] > b[1] end
      return byte_order(b[3], a[3])
    end)
  end)
end

-- The queued jobs of the ready list that have no K_ALL entry. They are
-- in list-score order (common.lua, Ready jobs), after every entry that
-- has one: the list is read from the last of them below the bound (found
-- by halving, one entry read at each step) towards its head. The list's
-- entries are ids.
local function ready_list()
  local len = redis_call('LLEN', K_READY_LIST)
  local at = len - 1
  if below ~= math.huge then
    -- The last entry that has a K_ALL entry or a score below the bound
    -- (an entry whose record is gone, which only an edit by hand leaves,
    -- counts as below).
    local lo, hi = -1, len
    while hi - lo > 1 do
      local mid = math.floor((lo + hi) / 2)
      local id = redis_call('LINDEX', K_READY_LIST, mid)
      local before = true
      if id and not redis_call('ZSCORE', K_ALL, id) then
        -- Scores rise strictly along the list: this holds for a prefix.
        before = listed_after(tonumber(ready.list_score_of(id)) or -math.huge, id)
      end
      if before then lo = mid else hi = mid end
    end
    at = lo
  end
  return source(function(s)
    if at < 0 then
      s.done = true
      return
    end
    local from = math.max(0, at - CHUNK_ENTRIES + 1)
    local ids = redis_call('LRANGE', K_READY_LIST, from, at)
    local listed = #ids > 0 and redis_call('ZMSCORE', K_ALL, unpack(ids)) or {}
    at = from - 1
    for i = #ids, 1, -1 do
      if listed[i] then
        -- An entry of the earlier layout: every entry before it is one too.
        at = -1
        break
      end
      local id = ids[i]
      local text = ready.list_score_of(id)
      local score = tonumber(text)
      if score and listed_after(score, id) then
        s.buf[#s.buf + 1] = { score, text, id, 'queued' }
      end
    end
    if at < 0 then s.done = true end
  end)
end

local sources
if K_ENDED[status] then
  sources = { sorted_set(K_ENDED[status], status) }
elseif status == 'running' then
  sources = { running() }
elseif status == 'queued' then
  sources = { sorted_set(K_ALL, status), ready_list() }
elseif status ~= '' then
  sources = { sorted_set(K_ALL, status) }
else
  sources = { sorted_set(K_ALL, ''), ready_list(), running(),
    sorted_set(K_ENDED.completed, 'completed'), sorted_set(K_ENDED.failed, 'failed'),
    sorted_set(K_ENDED.cancelled, 'cancelled') }
end

local out = { '' }
local found, scanned = 0, 0
local exhausted = false
while found < want and scanned < cap do
  -- The newest entry of every source; on equal scores the greater id, as
  -- one sorted set would give them.
  local best, best_entry
  for _, s in ipairs(sources) do
    local e = head(s)
    if e and (not best_entry or e[1] > best_entry[1] or
        (e[1] == best_entry[1] and byte_order(best_entry[3], e[3]))) then
      best, best_entry = s, e
    end
  end
  if not best then
    exhausted = true
    break
  end
  best.at = best.at + 1
  local _, score, id, must = unpack(best_entry)
  scanned = scanned + 1
  bound = score .. ':' .. id
  local key = PREFIX .. id
  local cur = load(id, key)
  local now = cur and cur[F_STATUS]
  -- A job of the ready list is listed from it while it waits there: a
  -- queued job elsewhere has a K_ALL entry, which ends the list's part
  -- (`ready_list`).
  local listed = now and (now == must or
    (must == '' and not K_ENDED[now] and now ~= 'running'))
  if listed and (kind == '' or cur[F_KIND] == kind) then
    out[#out + 1] = score
    out[#out + 1] = view(key, cur)
    found = found + 1
  end
end
if not exhausted then out[1] = bound end
return out
