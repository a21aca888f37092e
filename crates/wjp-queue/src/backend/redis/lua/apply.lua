-- Applies guarded transitions to jobs of one queue: each applies only if
-- the stored job still has the expected status and lease token.
-- Per transition, APPLY_ARGS arguments from ARGV[3], in the order of
-- `ApplyArg` (record.rs): id, expected status, expected token ('' for
-- none), new status, new token ('' for none), body, attempt, error kind
-- ('' for none), priority and run_at (for a waiting job, else ''),
-- expires_at, event progress ('' for none), event message (hex, '' for
-- none), event time. KEYS[JOB_KEYS + i]: the job's key. The last
-- argument: the transitions' audit lines (see `keep_audit`).
-- Returns per transition: 1 applied, 0 refused.
local n = (#ARGV - 3) / APPLY_ARGS
-- Where the i-th transition's arguments start (ARGV[base(i) + APPLY_ID] is its id).
local function base(i)
  return 2 + (i - 1) * APPLY_ARGS
end
local ids = {}
for i = 1, n do
  local b = base(i)
  ids[i] = ARGV[b + APPLY_ID]
  if ARGV[b + APPLY_STATUS] == 'running' then
    return redis.error_reply('a job becomes running only by a claim')
  end
end
local leases = redis_call('HMGET', K_LEASES, unpack(ids))
local out = {}
local woke = false
local ran = false
for i = 1, n do
  local b = base(i)
  local id, key = ids[i], KEYS[JOB_KEYS + i]
  local expect_status, expect_token = ARGV[b + APPLY_EXPECT_STATUS], ARGV[b + APPLY_EXPECT_TOKEN]
  local cur, start = stored(key)
  if cur and leases[i] then
    -- Running: of the lease, the guard needs only the token.
    cur[F_STATUS], cur[F_TOKEN] = 'running', string.match(leases[i], '^[^|]*')
  end
  if cur and cur[F_STATUS] == expect_status and cur[F_TOKEN] == expect_token then
    if expect_status == 'running' then ran = true end
    local status, token, body = ARGV[b + APPLY_STATUS], ARGV[b + APPLY_TOKEN], ARGV[b + APPLY_BODY]
    local attempt, error_kind = ARGV[b + APPLY_ATTEMPT], ARGV[b + APPLY_ERROR]
    local priority, run_at = ARGV[b + APPLY_PRIORITY], ARGV[b + APPLY_RUN_AT]
    local expires_at = ARGV[b + APPLY_EXPIRES_AT]
    -- The queue's waiting payload bytes (see `body_payload_bytes`): the
    -- stored record's leave with it, the new body's come in with it.
    if waiting_status(cur[F_STATUS]) then
      bytes_delta = bytes_delta - record_payload_bytes(start)
    end
    if waiting_status(status) then
      bytes_delta = bytes_delta + body_payload_bytes(body, 1)
    end
    -- A job's group never changes: the new body's is the stored one's.
    local group = group_in(body, 1)
    unindex(id, cur[F_STATUS], cur[F_RK], group)
    local rk = false
    if waiting_status(status) then
      rk = ready_key(priority, run_at, cur[F_SEQ])
    end
    local ended = K_ENDED[status] and expires_at
    store(key, records.head(status, token, attempt, cur[F_KIND], error_kind, cur[F_SEQ], cur[F_LS],
      rk or ended, rk and ready.is_plain(priority, run_at, cur[F_LS])), body, ended)
    index(id, status, rk, run_at, cur[F_LS], expires_at, group, false)
    emit(id, cur[F_KIND], status, attempt, ARGV[b + APPLY_PROGRESS], ARGV[b + APPLY_MESSAGE],
      error_kind, ARGV[b + APPLY_AT])
    if status == 'queued' then woke = true end
    if K_ENDED[status] then parent_ended(id, status) end
    out[i] = 1
  else
    out[i] = 0
  end
end
keep_audit(ARGV[#ARGV], out)
flush()
publish()
if woke then
  wake()
elseif ran then
  wake_if_limited()
end
return with_deliveries(out, n)
