-- Ends running jobs of one queue (completed, failed or cancelled): the
-- common case of `apply`, on a path that costs Redis about half as much.
-- A job is running under a token iff its lease entry starts with that
-- token, so the guard needs only the lease. The Rust side sends what it
-- already knows ready-made: the event line, the token with its separator,
-- and, when it knows the job's enqueue sequence (it claimed the job), the
-- whole new header; else the stored header is read for the three fields a
-- transition never changes (kind, sequence, list score).
-- Per transition (10 arguments from ARGV[3]): id, expected token followed
-- by '|', new status, attempt, error kind ('' for none), body, expires_at,
-- event line (see `emit`), new header and list score (or '' and '').
-- KEYS[JOB_KEYS + i]: the job's key.
-- Returns per transition: 1 applied, 0 refused.
local N = 10
local n = (#ARGV - 2) / N
local ids = {}
for i = 1, n do ids[i] = ARGV[3 + (i - 1) * N] end
local leases = redis.call('HMGET', K_LEASES, unpack(ids))
-- kind, sequence and list score of a stored header (see `header`).
local TAIL = '^[^|]*|[^|]*|[^|]*|([^|]*)|[^|]*|([^|]*)|([^|]*)|'
local out = {}
for i = 1, n do
  local b = 2 + (i - 1) * N
  local lease, expect = leases[i], ARGV[b + 2]
  out[i] = 0
  -- A plain search anchored by its answer: no substring to allocate.
  if lease and string.find(lease, expect, 1, true) == 1 then
    local key, status, head = KEYS[JOB_KEYS + i], ARGV[b + 3], ARGV[b + 9]
    local ls = ARGV[b + 10]
    if head == '' then
      local kind, seq
      kind, seq, ls = string.match(redis.call('HGET', key, 'h') or '', TAIL)
      if ls then
        head = status .. '||' .. ARGV[b + 4] .. '|' .. kind .. '|' .. ARGV[b + 5] .. '|' ..
          seq .. '|' .. ls .. '|'
      end
    end
    if ls and K_ENDED[status] then
      local id, expires_at = ids[i], ARGV[b + 7]
      drop_lease(id)
      store(key, head, ARGV[b + 6], expires_at, false)
      zadd(K_ENDED[status], ls, id)
      zadd(K_EXP, expires_at, id)
      events[#events + 1] = ARGV[b + 8]
      out[i] = 1
    end
  end
end
flush()
publish()
return out
