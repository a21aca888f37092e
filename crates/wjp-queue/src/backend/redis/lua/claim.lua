-- Takes up to `max` ready jobs of one queue (queued, or scheduled and due),
-- best first: highest priority, then earliest run-at, then first enqueued.
-- Each starts a new attempt under the call's lease token: the claim is
-- one entry in the lease hash, and the job's record stays as it was (see
-- common.lua). The caller derives the running jobs from the bodies with
-- the same pure function that decided them (`state::claim`).
-- The records, bodies included, come back with the claim. Passing them
-- through Lua costs Redis about 5% more per job than fetching them with
-- plain reads afterwards, but that second round trip was most of a
-- claim's time: a worker's free slots wait for it.
-- ARGV[3]: now, [4]: max, [5]: worker (hex), [6]: lease ms, [7]: the lease
-- token. One token serves every job of a call: a token only has to tell
-- this claim of a job from any later claim of it, and one string for all
-- spares Lua a new string per job (in the completions too, which send it
-- back per job).
-- Returns per job two items: id, record (header, newline, body).
-- A paused queue gives nothing (see pause.lua).
if redis_call('EXISTS', K_PAUSED) == 1 then return {} end
local now, max = tonumber(ARGV[3]), tonumber(ARGV[4])
-- The queue's limits cut the claim, in this same call (see limit_room):
-- jobs over them stay queued.
local window_start, window_claims
max, window_start, window_claims = limit_room(max)
if max == 0 then return {} end
local token = ARGV[7]
-- A queue with fairness groups is taken in turns (common.lua); its due
-- scheduled jobs wait for their promotion.
local in_turns = take_in_turns(max)
local due = in_turns and {} or redis_call('ZRANGEBYSCORE', K_SCHED, '-inf', now, 'LIMIT', 0, max)
-- The best ready jobs leave the index (`ready_take`); those a due
-- scheduled job outranks go back (`ready.put_back`). A candidate is an
-- entry of the plain ready index (a member `<ready key>|<id>` or a list's
-- id, `ready.id_of`), a member of a group's index or a due scheduled
-- job's member.
local candidates = in_turns and in_turns.members or ready_take(max)
local scheduled = {}
-- Candidates `from`..`to` are not taken: popped ready members go back
-- where they were (`ready.put_back`: the list's head, or the sorted set);
-- a due scheduled job never left its own index.
local function put_back(from, to)
  for i = from, to do
    if in_turns then
      back_in_turn(in_turns, candidates[i])
    elseif not scheduled[candidates[i]] then
      ready.put_back(candidates[i])
    end
  end
end
if #due > 0 then
  local dues = {}
  for _, id in ipairs(due) do
    local cur, start = stored(PREFIX .. id)
    if cur and cur[F_STATUS] == 'scheduled' and redis_call('HEXISTS', K_LEASES, id) == 0 then
      -- A grouped job enters its group's turns when it is promoted.
      if not record_group(start) then
        local member = cur[F_RK] .. '|' .. id
        dues[#dues + 1] = member
        scheduled[member] = id
      end
    else
      zrem(K_SCHED, id)
    end
  end
  if #dues > 0 then
    -- The due jobs go among the candidates, which are in claim order:
    -- each at the place found by halving, so that only the keys of the
    -- list entries compared are read from their records (`ready.key_of`).
    sort_bytewise(dues)
    local merged, at = {}, 1
    for _, member in ipairs(dues) do
      local lo, hi = at - 1, #candidates + 1
      while hi - lo > 1 do
        local mid = math.floor((lo + hi) / 2)
        if byte_order(member, ready.key_of(candidates[mid])) then hi = mid else lo = mid end
      end
      for i = at, hi - 1 do merged[#merged + 1] = candidates[i] end
      merged[#merged + 1] = member
      at = hi
    end
    for i = at, #candidates do merged[#merged + 1] = candidates[i] end
    candidates = merged
    put_back(max + 1, #candidates)
  end
end
-- A fresh job's next attempt without number formatting, which costs a
-- script more than the rest of the claim's string work.
local NEXT_ATTEMPT = { ['0'] = '1', ['1'] = '2', ['2'] = '3', ['3'] = '4', ['4'] = '5' }
local worker, lease_ms = ARGV[5], ARGV[6]
local lease_until = int(now + tonumber(lease_ms))
-- The lease entry of a job of this call depends only on its attempt and
-- kind, which most jobs of a call share: each distinct entry is made once
-- (a string a script makes costs it more than a table lookup). No
-- progress, no message, no cancel request yet.
local lease_texts = {}
local function lease_of(attempt, kind)
  local by_kind = table_at(lease_texts, attempt)
  local text = by_kind[kind]
  if not text then
    local l = {}
    l[L_TOKEN], l[L_ATTEMPT], l[L_WORKER], l[L_LEASE] = token, attempt, worker, lease_ms
    l[L_CLAIMED], l[L_UNTIL], l[L_KIND] = ARGV[3], lease_until, kind
    l[L_PROGRESS], l[L_MESSAGE], l[L_CANCEL] = '', '', ''
    text = lease_text(l)
    by_kind[kind] = text
  end
  return text
end
-- Past this many bytes of records a claim takes no more jobs: the rest stay
-- ready for the next claim, so that claiming jobs with large payloads
-- (up to 4 MB each) cannot hold the server for long. The first job is
-- always taken, whatever its size.
local BODY_BUDGET = 1048576
local bytes = 0
-- The jobs of a call mostly share the start of their header (status,
-- token, attempt, kind): a record that starts as the one before is not
-- taken apart again (each piece cut is a new string).
local start, status, attempt_was, kind
local out = {}
local taken, taken_bytes = 0, 0
local last = math.min(#candidates, max)
-- The candidates' ids: a list's entry is the id itself (`ready.id_of`,
-- written out: a call per job costs).
local ids = {}
for i = 1, last do
  local member = candidates[i]
  ids[i] = byte(member, READY_KEY_LEN + 1) == 124 and sub(member, READY_KEY_LEN + 2) or member
end
-- Packed records are read with one command per run of ids sharing a
-- hash, unless the queue's last claimed record was a key (see
-- `records.of`).
local packed
if not records.keyed[QUEUE_PREFIX] then
  packed = {}
  records.by_runs('HMGET', ids, 1, last, packed)
end
local late_taken = ready.late_taken
-- The lease text of the job before (see `lease_of`), and the event line
-- made for it (`emit`): a job of the same kind and attempt takes both as
-- they are, with no function called (a call per job costs), and its event
-- is its id alone (see `emit`) while no other line came between. Lengths
-- are counted, not asked of the tables (`#` searches).
local lease_attempt, lease_kind, lease, line_emitted
local out_n, leases_n, events_n = 0, #lease_sets, #events
for i = 1, last do
  local member, id = candidates[i], ids[i]
  -- `records.of`, called only when the record was not found packed.
  local found = packed and packed[i]
  local rec = found or records.of(id, found)
  local size = rec and #rec or 0
  if taken > 0 and bytes + size > BODY_BUDGET then
    put_back(i, last)
    break
  end
  bytes = bytes + size
  if not (rec and start and find(rec, start, 1, true) == 1) then
    status, attempt_was, kind, start = head_fields(rec)
  end
  if scheduled[member] then zrem(K_SCHED, id) end
  -- Anything else is a stale entry (cannot happen unless keys were
  -- edited): it is dropped.
  if status == 'queued' or status == 'scheduled' then
    taken = taken + 1
    -- No longer waiting: its payload leaves the queue's waiting bytes
    -- (`record_payload_bytes`, written out: a call per job costs).
    local nl = find(rec, '\n', 1, true)
    local digits = nl and match(rec, '^{"pl":(%d+)', nl + 1)
    if digits then taken_bytes = taken_bytes + (size_numbers[digits] or size_number(digits)) end
    local attempt = NEXT_ATTEMPT[attempt_was] or int((tonumber(attempt_was) or 0) + 1)
    -- Its K_ALL entry, where it has one, leaves with the claim (see
    -- Listings in common.lua), not with its end: a member of the set, of a
    -- group or of the scheduled jobs (`<ready key>|<id>`, not the id) has
    -- one, as a job of the late list has; a job of the ready list, most
    -- jobs, has none, and its end then sends no removal that finds nothing.
    if member ~= id or (late_taken and (late_taken == true or late_taken[id])) then
      zrem(K_ALL, id)
    end
    if attempt == lease_attempt and kind == lease_kind and line_before == line_emitted then
      events_n = events_n + 1
      events[events_n] = id
    else
      lease_attempt, lease_kind, lease = attempt, kind, lease_of(attempt, kind)
      emit(id, kind, 'running', attempt, '0', false, false, ARGV[3])
      line_emitted, events_n = line_before, #events
    end
    lease_sets[leases_n + 1] = id
    lease_sets[leases_n + 2] = lease
    leases_n = leases_n + 2
    if in_turns then group_started(in_turns.group[member]) end
    out[out_n + 1] = id
    out[out_n + 2] = rec
    out_n = out_n + 2
  end
end
bytes_delta = bytes_delta - taken_bytes
if window_start then
  redis_call('HSET', K_LIMITS, 'start', int(window_start), 'claims', int(window_claims + taken))
end
flush()
publish()
return out
