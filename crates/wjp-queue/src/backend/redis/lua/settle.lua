-- Tells waiting jobs of this queue that one of their parents ended (a
-- delivery from a parent's outbox, see `parent_ended` in common.lua). The
-- Rust side read each job and its pending parents and computed its next
-- state with `state::parent_ended`; this applies it if the pending entry
-- is still what was read.
-- Per job, SETTLE_ARGS arguments from ARGV[3], in the order of `SettleArg`
-- (record.rs): id, parent, expected pending entry, new status ('' while it
-- still waits), body, error kind, priority and run-at (waiting statuses),
-- expires_at (ended ones), event time. KEYS[JOB_KEYS + i]: the job's key.
-- Returns per job: 1 applied, 0 changed since it was read (read again),
-- 2 not waiting any more (nothing to do).
local n = (#ARGV - 2) / SETTLE_ARGS
local function base(i)
  return 2 + (i - 1) * SETTLE_ARGS
end
local out = {}
local woke = false
for i = 1, n do
  local b = base(i)
  local id, key = ARGV[b + SETTLE_ID], KEYS[JOB_KEYS + i]
  local pending = redis_call('HGET', K_PENDING, id)
  local cur, start
  if pending then cur, start = stored(key) end
  if not pending or not cur or cur[F_STATUS] ~= 'waiting' then
    if pending then redis_call('HDEL', K_PENDING, id) end
    out[i] = 2
  elseif pending ~= ARGV[b + SETTLE_EXPECT] then
    out[i] = 0
  else
    local parent, status = ARGV[b + SETTLE_PARENT], ARGV[b + SETTLE_STATUS]
    if status == '' then
      local rest = {}
      for p in string.gmatch(pending, '[^ ]+') do
        if p ~= parent then rest[#rest + 1] = p end
      end
      redis_call('HSET', K_PENDING, id, table.concat(rest, ' '))
    else
      local body, error_kind = ARGV[b + SETTLE_BODY], ARGV[b + SETTLE_ERROR]
      local run_at, expires_at = ARGV[b + SETTLE_RUN_AT], ARGV[b + SETTLE_EXPIRES_AT]
      bytes_delta = bytes_delta - record_payload_bytes(start)
      local rk = false
      if waiting_status(status) then
        bytes_delta = bytes_delta + body_payload_bytes(body, 1)
        rk = ready_key(ARGV[b + SETTLE_PRIORITY], run_at, cur[F_SEQ])
      end
      unindex(id, 'waiting', nil)
      local ended = K_ENDED[status] and expires_at
      store(key, records.head(status, '', cur[F_ATTEMPT], cur[F_KIND], error_kind, cur[F_SEQ],
        cur[F_LS], rk or ended, rk and ready.is_plain(ARGV[b + SETTLE_PRIORITY], run_at, cur[F_LS])),
        body, ended)
      index(id, status, rk, run_at, cur[F_LS], expires_at, group_in(body, 1), false)
      emit(id, cur[F_KIND], status, cur[F_ATTEMPT], false, false, error_kind, ARGV[b + SETTLE_AT])
      if status == 'queued' then woke = true end
      if K_ENDED[status] then parent_ended(id, status) end
    end
    out[i] = 1
  end
end
flush()
publish()
if woke then wake() end
return out
