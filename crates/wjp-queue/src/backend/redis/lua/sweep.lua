-- Deletes ended jobs of one queue past their expiry and trims old events,
-- and counts the queue's waiting payload bytes again where that is cheap
-- (see mod.rs on drift).
-- An ended record's header carries its expiry (common.lua); the server
-- deletes a record that has a TTL by itself, and this cleans the indexes.
-- An expiry index entry names one job, or every job of one completion call
-- with that expiry, space-separated (finish.lua); an entry is taken whole.
-- The entry of a job that ended again since, or of an id enqueued afresh,
-- may still come due: whether the job is gone is asked of its record.
-- ARGV[3]: now, [4]: about how many jobs to look at, [5]: oldest event id
-- to keep.
-- Returns {deleted, jobs looked at}.
local now, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
local entries = redis_call('ZRANGEBYSCORE', K_EXP, '-inf', ARGV[3], 'LIMIT', 0, limit)
local deleted, looked = 0, 0
local gone = {}
for _, entry in ipairs(entries) do
  if looked >= limit then break end
  zrem(K_EXP, entry)
  for id in string.gmatch(entry, '[^ ]+') do
    looked = looked + 1
    local key = PREFIX .. id
    local head = raw_head(key)
    local status, expires
    if head then status, expires = status_and_expiry(head) end
    if expires and expires > now then
      -- Ended again since, with a later expiry (or this server's clock is
      -- behind the one that ended it): look again then.
      zadd(K_EXP, int(expires), id)
    elseif not status or K_ENDED[status] then
      -- Gone, or past its expiry: out of the index of its status (of every
      -- ended status when its record is gone), and out of K_ALL, where the
      -- earlier layout listed ended jobs too. Counted once, however many
      -- entries name it.
      local removed = 0
      for s, k in pairs(K_ENDED) do
        if not status or s == status then
          removed = removed + redis_call('ZREM', k, id)
        else
          zrem(k, id)
        end
      end
      zrem(K_ALL, id)
      if removed > 0 then deleted = deleted + 1 end
      if status then gone[#gone + 1] = key end
    else
      -- The id was enqueued afresh after its old record expired.
      for _, k in pairs(K_ENDED) do zrem(k, id) end
    end
  end
end
flush()
in_chunks('DEL', false, gone)
redis_call('XTRIM', K_EVENTS, 'MINID', '~', ARGV[5])
-- With no waiting job there is no waiting payload; with a few, their sizes
-- are read again (the start of each record: see `raw_head`), at most once
-- a minute (a key with a TTL says when it was done).
local RECOUNT_UP_TO = 100
local grouped = grouped_ready()
local waiting = ready_count() + redis_call('ZCARD', K_SCHED) +
  redis_call('HLEN', K_PENDING) + grouped
if waiting == 0 then
  redis_call('DEL', K_BYTES)
elseif waiting <= RECOUNT_UP_TO and grouped == 0
  and redis_call('SET', K_BYTES .. ':recounted', '1', 'NX', 'PX', 60000) then
  local sum = 0
  local function add(key)
    local head, start = raw_head(key)
    if head and waiting_status(status_and_expiry(head)) then
      sum = sum + record_payload_bytes(start)
    end
  end
  for _, key in ipairs({ K_READY, K_READY_LIST, ready.late_key }) do
    local members = key == K_READY and redis_call('ZRANGE', key, 0, -1) or
      redis_call('LRANGE', key, 0, -1)
    for _, entry in ipairs(members) do add(PREFIX .. ready.id_of(entry)) end
  end
  for _, id in ipairs(redis_call('ZRANGE', K_SCHED, 0, -1)) do add(PREFIX .. id) end
  for _, id in ipairs(redis_call('HKEYS', K_PENDING)) do add(PREFIX .. id) end
  if tonumber(redis_call('GET', K_BYTES)) ~= sum then redis_call('SET', K_BYTES, int(sum)) end
end
-- Unique keys no job holds any more (it ended past its window, or is
-- gone) leave the queue's unique hash: a hundred entries a sweep, round
-- the hash (the cursor is kept beside it).
local cursor_key = K_UNIQUE .. ':cursor'
local scan = redis_call('HSCAN', K_UNIQUE, redis_call('GET', cursor_key) or '0', 'COUNT', 100)
local entries = scan[2]
for i = 1, #entries, 2 do
  if not unique_holder(entries[i + 1], now) then redis_call('HDEL', K_UNIQUE, entries[i]) end
end
if scan[1] == '0' then redis_call('DEL', cursor_key) else redis_call('SET', cursor_key, scan[1]) end
return { deleted, looked }
