-- Applies guarded transitions to jobs of one queue: each applies only if
-- the stored job still has the expected status and lease token.
-- Per transition (15 arguments from ARGV[3]): id, expected status,
-- expected token ('' for none), new status, new token ('' for none), body,
-- attempt, error kind ('' for none), priority and run_at (for a waiting
-- job, else ''), lease until (unused: a job becomes running only by a
-- claim), expires_at, event progress ('' for none), event message (hex, '' for
-- none), event time. KEYS[JOB_KEYS + i]: the job's key.
-- Returns per transition: 1 applied, 0 refused.
local N = 15
local n = (#ARGV - 2) / N
local ids = {}
for i = 1, n do
  local b = 2 + (i - 1) * N
  ids[i] = ARGV[b + 1]
  if ARGV[b + 4] == 'running' then
    return redis.error_reply('a job becomes running only by a claim')
  end
end
local leases = redis_call('HMGET', K_LEASES, unpack(ids))
local out = {}
local woke = false
for i = 1, n do
  local b = 2 + (i - 1) * N
  local id, key = ids[i], KEYS[JOB_KEYS + i]
  local cur, start = stored(key)
  if cur and leases[i] then
    -- Running: of the lease, the guard needs only the token.
    cur[F_STATUS], cur[F_TOKEN] = 'running', string.match(leases[i], '^[^|]*')
  end
  if cur and cur[F_STATUS] == ARGV[b + 2] and cur[F_TOKEN] == ARGV[b + 3] then
    local status, run_at = ARGV[b + 4], ARGV[b + 10]
    -- The queue's waiting payload bytes (see `body_payload_bytes`): the
    -- stored record's leave with it, the new body's come in with it.
    if waiting_status(cur[F_STATUS]) then
      bytes_delta = bytes_delta - record_payload_bytes(start)
    end
    if waiting_status(status) then
      bytes_delta = bytes_delta + body_payload_bytes(ARGV[b + 6], 1)
    end
    unindex(id, cur[F_STATUS], cur[F_RK])
    local rk = false
    if status == 'queued' or status == 'scheduled' then
      rk = ready_key(ARGV[b + 9], run_at, cur[F_SEQ])
    end
    local ended = K_ENDED[status] and ARGV[b + 12]
    store(key, header(status, ARGV[b + 5], ARGV[b + 7], cur[F_KIND], ARGV[b + 8], cur[F_SEQ],
      cur[F_LS], rk or ended), ARGV[b + 6], ended)
    index(id, status, rk, run_at, cur[F_LS], ARGV[b + 12])
    emit(id, cur[F_KIND], status, ARGV[b + 7], ARGV[b + 13], ARGV[b + 14], ARGV[b + 8],
      ARGV[b + 15])
    if status == 'queued' then woke = true end
    out[i] = 1
  else
    out[i] = 0
  end
end
flush()
publish()
if woke then wake() end
return out
