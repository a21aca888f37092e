-- Deletes ended jobs of one queue past their TTL (Redis has usually expired
-- the record already; this cleans the indexes) and trims old events.
-- The expiry index holds two kinds of entries: a job id (an end written by
-- apply.lua), and `#<n>`, the ends of one finish.lua call: a list of id,
-- expires_at pairs at `<expiry key>#<n>`, filed at the earliest of them.
-- ARGV[3]: now, [4]: limit (jobs looked at, about), [5]: oldest event id
-- to keep.
-- Returns {deleted, jobs looked at}.
local now, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
local entries = redis.call('ZRANGEBYSCORE', K_EXP, '-inf', ARGV[3], 'LIMIT', 0, limit)
local deleted, looked = 0, 0

-- Takes an expired job out of every index.
local function forget_expired(id)
  for _, k in pairs(K_ENDED) do zrem(k, id) end
  zrem(K_ALL, id)
  deleted = deleted + 1
end

-- An id entry: the job's only expiry entry, whatever it became since.
local function sweep_id(id)
  local key = PREFIX .. id
  local cur = parse(stored_head(key))
  local status = cur and cur[F_STATUS]
  if not status or K_ENDED[status] then
    if status then redis.call('DEL', key) end
    forget_expired(id)
  else
    -- The id was enqueued afresh after its old record expired.
    for s, k in pairs(K_ENDED) do
      if s ~= status then zrem(k, id) end
    end
  end
end

-- A pair of a batch entry: due by the caller's clock at `at`. The job may
-- have ended again since (retried), with an expiry entry of its own.
local function sweep_pair(id, at)
  local key = PREFIX .. id
  local cur = parse(stored_head(key))
  local status = cur and cur[F_STATUS]
  if not status then
    forget_expired(id)
  elseif K_ENDED[status] then
    -- Still there: either this very record, due by the caller's clock a
    -- little before Redis's (its expiry is the pair's), or a later end of
    -- the job, which its own entry covers. (PEXPIRETIME needs Redis 7;
    -- before that every such record is taken as this one.)
    local expiry = redis.pcall('PEXPIRETIME', key)
    if type(expiry) ~= 'number' or expiry == at then
      redis.call('DEL', key)
      forget_expired(id)
    end
  else
    -- Enqueued afresh after its old record expired: the old end's index
    -- entry goes.
    for _, k in pairs(K_ENDED) do zrem(k, id) end
  end
end

for _, entry in ipairs(entries) do
  if looked >= limit then break end
  zrem(K_EXP, entry)
  if string.byte(entry) == 35 then -- '#': the ends of one finish call
    local list = K_EXP .. entry
    local items = redis.call('LRANGE', list, 0, -1)
    redis.call('DEL', list)
    local later, earliest = {}, nil
    for i = 1, #items, 2 do
      local at = tonumber(items[i + 1])
      if at <= now then
        sweep_pair(items[i], at)
      else
        later[#later + 1] = items[i]
        later[#later + 1] = items[i + 1]
        if not earliest or at < earliest then earliest = at end
      end
    end
    looked = looked + #items / 2
    if earliest then
      in_chunks('RPUSH', list, later)
      zadd(K_EXP, int(earliest), entry)
    end
  else
    sweep_id(entry)
    looked = looked + 1
  end
end
flush()
redis.call('XTRIM', K_EVENTS, 'MINID', '~', ARGV[5])
return { deleted, looked }
