-- Inserts new jobs of one queue. A job whose id exists and is not reusable
-- (waiting, running or completed) is left alone and returned as stored;
-- a failed or cancelled one is replaced.
-- ARGV[3]: now, [4]: most waiting jobs, [5]: most waiting payload bytes
-- ('' for no limit: the caller checked them first, see admit.lua), [6]:
-- the payload bytes of all the jobs (the sum of their bodies' sizes). Then
-- per job, INSERT_ARGS arguments from ARGV[7], in the order of `InsertArg`
-- (record.rs): id, status, body, priority, run_at, created_at, kind, unique
-- key, unique until, the parents it waits for (space-separated; only for
-- a waiting job, see `parent_ended`). A job whose unique key a job of the queue holds (see
-- `unique_holder`) is not stored: that job is returned instead. The last
-- argument: the jobs' audit lines (see `keep_audit`).
-- KEYS[JOB_KEYS + i]: the job's key.
-- Returns per job: 1 when inserted, or the stored job. When the jobs would
-- take the queue past a quota, nothing is written, and it returns the
-- refusal (see `over_quota`).
local now = ARGV[3]
local n = (#ARGV - 7) / INSERT_ARGS
-- Where the i-th job's arguments start (ARGV[base(i) + INSERT_ID] is its id).
local function base(i)
  return 6 + (i - 1) * INSERT_ARGS
end
local added = tonumber(ARGV[6])
local max_jobs, max_bytes = tonumber(ARGV[4]), tonumber(ARGV[5])
if max_jobs or max_bytes then
  local refusal = over_quota(max_jobs, max_bytes, n, added, true, function(i)
    local b = base(i)
    return ARGV[b + INSERT_ID], KEYS[JOB_KEYS + i], body_payload_bytes(ARGV[b + INSERT_BODY], 1)
  end)
  if refusal then return refusal end
end
local out = {}
-- The last run-at a job of this call was ordered by, and the answer.
local seen_run_at, seen_order
local seq0 = redis_call('INCRBY', K_SEQ, n) - n
-- Whether none of the jobs has a key of its own (an ended or large record
-- of the same id): one EXISTS for the call, where a packed record would
-- cost one per job (see `records.add`).
local no_keys = n > 0 and redis_call('EXISTS', unpack(KEYS, JOB_KEYS + 1, JOB_KEYS + n)) == 0
local woke = false
-- The fields of the event line last made here (see `emit`): a job like
-- the one before (a batch's jobs mostly are) gets the bare-id line
-- without a call, while no other line came between.
local emitted_kind, emitted_status, emitted_error, line_emitted
local events_n = #events
local b = base(0)
for i = 1, n do
  b = b + INSERT_ARGS
  local id, status, body = ARGV[b + INSERT_ID], ARGV[b + INSERT_STATUS], ARGV[b + INSERT_BODY]
  local priority, run_at = ARGV[b + INSERT_PRIORITY], ARGV[b + INSERT_RUN_AT]
  local created_at, kind = ARGV[b + INSERT_CREATED_AT], ARGV[b + INSERT_KIND]
  local unique, unique_until = ARGV[b + INSERT_UNIQUE], ARGV[b + INSERT_UNIQUE_UNTIL]
  local key = KEYS[JOB_KEYS + i]
  local holder_id, holder_key, holder
  if unique ~= '' then
    holder_id, holder_key, holder = unique_holder(redis_call('HGET', K_UNIQUE, unique), now)
  end
  local seq = seq0 + i
  local ls = int(tonumber(created_at) * 1000 + seq % 1000)
  local group = group_in(body, 1)
  -- A due job of the default priority without a group is ordered among
  -- the ready lists' jobs by its arrival (`ready.run_at`), asked once per
  -- run-at of the call (whether it joins a list is decided job by job).
  local order_run_at = run_at
  if status == 'queued' and priority == '0' and not group then
    if run_at ~= seen_run_at then seen_run_at, seen_order = run_at, ready.run_at(run_at) end
    order_run_at = seen_order
  end
  local rk = ready_key(priority, order_run_at, seq)
  -- A dependant whose parent had already failed is stored ended.
  local expires_at = ARGV[b + INSERT_EXPIRES_AT]
  local error_kind = ''
  local ended_at = false
  if K_ENDED[status] then rk, error_kind, ended_at = expires_at, 'dependency_failed', expires_at end
  local head = records.head(status, '', '0', kind, error_kind, int(seq), ls, rk,
    ready.is_plain(priority, order_run_at, ls))
  -- The record goes in only if the job is new.
  local inserted, fresh = false, true
  if holder then
    out[i] = view(holder_key, holder)
    added = added - body_payload_bytes(body, 1)
  else
    local keyed
    inserted, keyed = records.add(key, id, head .. '\n' .. body, ended_at, no_keys)
    -- The same id again in this call must find this key.
    if inserted and keyed then no_keys = false end
  end
  if not inserted and not holder then
    local old = load(id, key)
    if not old or old[F_STATUS] == 'failed' or old[F_STATUS] == 'cancelled' then
      if old then unindex(id, old[F_STATUS], old[F_RK]) end
      -- An entry in K_ALL of the job it replaces (or of an expired one)
      -- is taken out or moved by `index`.
      fresh = false
      store(key, head, body, ended_at)
      inserted = true
    else
      out[i] = view(key, old)
      added = added - body_payload_bytes(body, 1)
    end
  end
  if inserted then
    if status == 'waiting' then
      redis_call('HSET', K_PENDING, id, ARGV[b + INSERT_PENDING])
    end
    if unique ~= '' then redis_call('HSET', K_UNIQUE, unique, id .. '|' .. unique_until) end
    if K_ENDED[status] then added = added - body_payload_bytes(body, 1) end
    index(id, status, rk, run_at, ls, expires_at, group, fresh)
    if kind == emitted_kind and status == emitted_status and error_kind == emitted_error
        and line_before == line_emitted then
      events_n = events_n + 1
      events[events_n] = id
    else
      emit(id, kind, status, '0', false, false, error_kind, now)
      emitted_kind, emitted_status, emitted_error = kind, status, error_kind
      line_emitted, events_n = line_before, #events
    end
    if status == 'queued' then woke = true end
    out[i] = 1
  end
end
bytes_delta = bytes_delta + added
keep_audit(ARGV[#ARGV], out)
flush()
publish()
if woke then wake() end
return out
