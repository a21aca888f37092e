-- Inserts new jobs of one queue. A job whose id exists and is not reusable
-- (waiting, running or completed) is left alone and returned as stored;
-- a failed or cancelled one is replaced.
-- ARGV[3]: now, [4]: most waiting jobs, [5]: most waiting payload bytes
-- ('' for no limit: the caller checked them first, see admit.lua), [6]:
-- the payload bytes of all the jobs (the sum of their bodies' sizes). Then
-- per job (7 arguments from ARGV[7]): id, status, body, priority, run_at,
-- created_at, kind. KEYS[JOB_KEYS + i]: the job's key.
-- Returns per job: 1 when inserted, or the stored job. When the jobs would
-- take the queue past a quota, nothing is written, and it returns the
-- refusal (see `over_quota`).
local now = ARGV[3]
local H, N = 6, 7
local n = (#ARGV - H) / N
local added = tonumber(ARGV[6])
local max_jobs, max_bytes = tonumber(ARGV[4]), tonumber(ARGV[5])
if max_jobs or max_bytes then
  local refusal = over_quota(max_jobs, max_bytes, n, added, true, function(i)
    local b = H + (i - 1) * N
    return ARGV[b + 1], KEYS[JOB_KEYS + i], body_payload_bytes(ARGV[b + 3], 1)
  end)
  if refusal then return refusal end
end
local out = {}
local seq0 = redis_call('INCRBY', K_SEQ, n) - n
local woke = false
for i = 1, n do
  local b = H + (i - 1) * N
  local id, status, body = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
  local priority, run_at, created_at, kind = ARGV[b + 4], ARGV[b + 5], ARGV[b + 6], ARGV[b + 7]
  local key = KEYS[JOB_KEYS + i]
  local seq = seq0 + i
  local ls = int(tonumber(created_at) * 1000 + seq % 1000)
  local rk = ready_key(priority, run_at, seq)
  local head = header(status, '', '0', kind, '', int(seq), ls, rk)
  -- The record goes in only if the job is new.
  local inserted = redis_call('SET', key, head .. '\n' .. body, 'NX') ~= false
  if not inserted then
    local old = load(id, key)
    if not old or old[F_STATUS] == 'failed' or old[F_STATUS] == 'cancelled' then
      if old then unindex(id, old[F_STATUS], old[F_RK]) end
      store(key, head, body, false)
      inserted = true
    else
      out[i] = view(key, old)
      added = added - body_payload_bytes(body, 1)
    end
  end
  if inserted then
    zadd(K_ALL, ls, id)
    index(id, status, rk, run_at, ls, 0)
    emit(id, kind, status, '0', false, false, false, now)
    if status == 'queued' then woke = true end
    out[i] = 1
  end
end
bytes_delta = bytes_delta + added
flush()
publish()
if woke then wake() end
return out
