-- Ends running jobs of one queue, all to one status (completed, failed or
-- cancelled): the common case of `apply`, on a path that costs Redis about
-- half as much. A job is running under a token iff its lease entry starts
-- with that token, so the guard needs only the lease. The Rust side sends
-- what it knows ready-made: the event lines, the token with its separator,
-- and the whole new record, its header ending with the job's expiry (see
-- common.lua: the records go in one MSET, without a TTL). It knows the
-- record only for jobs this process claimed (it noted their enqueue
-- sequence); other ends go to `apply`.
-- ARGV[3]: the new status. ARGV[4]: the event lines of all the transitions
-- (see `emit`; bare job ids included), in order, joined by newlines: one
-- string for the call, where a string per line cost Lua a string per job
-- (lines never hold a newline: messages are hex).
-- ARGV[5]: per transition, '1' when its waiting record may be packed (see
-- `records` in common.lua), else '0'.
-- Then per transition, FINISH_ARGS arguments from ARGV[6], in the order of
-- `FinishArg` (record.rs): id, expected token followed by '|', the new
-- record, expires_at, list score. The last argument: the ends' audit
-- lines (see `keep_audit`).
-- KEYS[JOB_KEYS + i]: the job's key.
-- Returns per transition: 1 applied, 0 refused.
local n = (#ARGV - 6) / FINISH_ARGS
local packed = ARGV[5]
local ended = K_ENDED[ARGV[3]]
if not ended then return redis.error_reply('finish.lua ends jobs only') end
-- Where the i-th end's arguments start (ARGV[base(i) + FINISH_ID] is its
-- id); the main loop steps through them rather than call this per job.
local function base(i)
  return 5 + (i - 1) * FINISH_ARGS
end
local ids = {}
for i = 1, n do ids[i] = ARGV[base(i) + FINISH_ID] end
local leases = redis_call('HMGET', K_LEASES, unpack(ids))
local out = {}
local refused = false
-- The jobs of this call by expiry: each expiry gets one expiry index entry
-- naming its jobs (see sweep.lua). One sorted-set insert per job cost a
-- completion more than anything else it did (8% of a drained job's cost).
local expiring = {}
local ended_records, records_n = {}, 0
-- The ids of the applied ends' packed records: deleted (`records.by_runs`)
-- before anything reads a record, which a reader looks for in the hash
-- first.
local unpacking = {}
-- What `drop_lease`, `zadd` and `table_at` would do per job, written out
-- below: a Lua function call per job costs. With the claim's loop written
-- out too, a drained no-op job cost Redis 3.7k fewer instructions, of
-- 74.7k (BENCHMARKS.md, the Redis path's design decisions, Claims).
local ended_adds = table_at(adds, ended)
local grouped = n > 0 and any_group_running()
-- Lengths counted, not asked of the tables (`#` searches); whether every
-- record may be packed asked once, not per job.
local dels_n, unpacking_n, adds_n = #lease_dels, 0, #ended_adds
local all_packed = not find(packed, '0', 1, true)
local b = base(0)
for i = 1, n do
  b = b + FINISH_ARGS
  local lease, expect = leases[i], ARGV[b + FINISH_EXPECT]
  -- A plain search anchored by its answer: no substring to allocate.
  if lease and find(lease, expect, 1, true) == 1 then
    local id, expires_at = ids[i], ARGV[b + FINISH_EXPIRES_AT]
    dels_n = dels_n + 1
    lease_dels[dels_n] = id
    -- Its waiting record leaves its record hash (see `records` in
    -- common.lua) when it was short enough to have been packed (ARGV[5]).
    if all_packed or byte(packed, i) == 49 then
      unpacking_n = unpacking_n + 1
      unpacking[unpacking_n] = id
    end
    if grouped then group_stopped(record_group(ARGV[b + FINISH_RECORD])) end
    ended_records[records_n + 1] = KEYS[JOB_KEYS + i]
    ended_records[records_n + 2] = ARGV[b + FINISH_RECORD]
    records_n = records_n + 2
    -- No K_ALL entry to take out: the claim took it (claim.lua).
    ended_adds[adds_n + 1] = ARGV[b + FINISH_LS]
    ended_adds[adds_n + 2] = id
    adds_n = adds_n + 2
    local same_expiry = expiring[expires_at]
    if same_expiry then
      same_expiry[#same_expiry + 1] = id
    else
      expiring[expires_at] = { id }
    end
    out[i] = 1
  else
    out[i] = 0
    refused = true
  end
end
records.by_runs('HDEL', unpacking, 1, unpacking_n)
in_chunks('MSET', false, ended_records)
if records_n > 0 and redis_call('EXISTS', K_DEPS) == 1 then
  deps_exist = true
  for i = 1, n do
    if out[i] == 1 then parent_ended(ids[i], ARGV[3]) end
  end
end
if n > 0 and not refused then
  events[1] = ARGV[4]
elseif n > 0 then
  -- Only the applied ends are published. A line that is a bare job id
  -- takes the fields of the line before it (see `emit`), which may be a
  -- refused one: kept lines are written whole.
  local i, fields = 0, ''
  for line in string.gmatch(ARGV[4], '[^\n]+') do
    i = i + 1
    local bar = find(line, '|', 1, true)
    if bar then fields = sub(line, bar) end
    if out[i] == 1 then events[#events + 1] = bar and line or line .. fields end
  end
end
for expires_at, jobs in pairs(expiring) do
  -- Ids never hold a space.
  zadd(K_EXP, expires_at, #jobs == 1 and jobs[1] or table.concat(jobs, ' '))
end
keep_audit(ARGV[#ARGV], out)
flush()
publish()
wake_if_limited()
return with_deliveries(out, n)
