-- The shared part of the wjp function library. The Rust side builds the
-- library from a generated prelude (record.rs, `lua_prelude`: the
-- positions of header fields, lease fields and per-job arguments, and
-- `header`), this file, and one function per operation (the other `.lua`
-- files, each the body of a function that starts with `begin`), and loads
-- it with FUNCTION LOAD: this code runs once, when the library loads, not
-- on every call as a script's prelude would (that cost each call more than
-- a claim's work for ten jobs).
--
-- While the library loads, only `redis.register_function` is reachable: the
-- standard library and `redis.call` are taken on the first call (`begin`).
--
-- keys[1..JOB_KEYS] are the keys of one queue (its indexes, streams and
-- counters), always in this order (all share the queue's hash tag,
-- `wjp:{queue}:`; keys.rs, `index_keys`); the keys after them are job keys.
-- args[1] is the job key prefix (`wjp:{queue}:job:`), used only for jobs
-- found through an index (claim, sweep, purge, list): such keys carry the
-- same hash tag, so they live in the same cluster slot. args[2] is the
-- approximate cap of the event stream. The functions know them as KEYS and
-- ARGV, as scripts would.
--
-- Globals the per-job paths use, as upvalues: each read of a global is a
-- table lookup (`string.find` two), each read of an upvalue none.
local find, sub, match, byte, redis_call
local KEYS, ARGV
local K_READY, K_SCHED, K_LEASES, K_ALL, K_EXP, K_ENDED, K_EVENTS, K_WAKE, K_SEQ, K_BYTES
local K_PAUSED, K_UNIQUE, K_LIMITS, K_PENDING, K_DEPS, K_OUTBOX, K_AUDIT, K_READY_LIST
local PREFIX, MAXLEN
-- Fairness groups' keys (see Fairness groups below), and whether this
-- call found the queue's group running counts (nil before it looked).
local QUEUE_PREFIX, K_GROUPS, K_GROUP_STATE, K_GROUP_RUNNING
local groups_running
-- What one call collects and writes at its end (see `flush`, `publish`).
local adds, removals, lease_sets, lease_dels, events, line_before, pending_dels
-- What a call changes in the plain ready index (see Ready jobs below):
-- `pushes`, ids to push at its list's tail; `dels`, members (`<ready
-- key>|<id>`) to take out; `tail`, the id at the list's tail as this call
-- knows it (nil before it looked, false when the list is empty), and
-- [1..3] the numbers of its ready key (see `ready_add`); `tail_ls`, the
-- list score a job must pass to join the list (see `ready.load_tail`);
-- `late_key`, `late_pushes`, `late` and [4..6], the same for the late
-- list (see Ready jobs below), `late_of` the queue prefix `late_key` was
-- made for; `took`, {list read, how many entries of it were taken, its
-- key} for each list `ready_take` took from (nil for none);
-- `late_taken`, the ids it took from the late list, which are listed by
-- K_ALL (see Listings): a set of them, true when it took only such, nil
-- for none; `unshift`,
-- key -> entries taken from that list that go back to its head
-- (`ready.put_back`); `keys`, id -> the claim-order key of a list's entry
-- this call read (`ready.key_of`). One table: the library's main chunk
-- may hold at most 200 locals.
local ready = {}
-- Whether the queue's `dependants` hash exists, once looked at in this
-- call (nil before); whether this call moved a parent to the outbox.
local deps_exist, deps_moved
-- The audit lines this call keeps (see `keep_audit`), or nil.
local audit_text
-- The change of the queue's waiting payload bytes (K_BYTES) in this call.
local bytes_delta
-- The server's clock in ms, read once per call (see `server_now`).
local now_ms
-- Patterns of a stored header and of a lease entry (see `parse`).
local HEADER, LEASE

-- The start of every function: takes what the library could not reach
-- while it loaded (once), the call's keys and arguments, and fresh
-- collections (a call that failed may have left some behind).
local function begin(keys, args)
  if not find then
    find, sub, match, byte = string.find, string.sub, string.match, string.byte
    redis_call = redis.call
    HEADER = '^' .. string.rep('([^|]*)|', STORED - 1) .. '([^|]*)$'
    LEASE = '^' .. string.rep('([^|]*)|', LEASE_FIELDS - 1) .. '([^|]*)$'
    K_ENDED = {}
  end
  KEYS, ARGV = keys, args
  K_READY, K_SCHED, K_LEASES, K_ALL, K_EXP = keys[1], keys[2], keys[3], keys[4], keys[5]
  K_ENDED.completed, K_ENDED.failed, K_ENDED.cancelled = keys[6], keys[7], keys[8]
  K_EVENTS, K_WAKE, K_SEQ, K_BYTES = keys[9], keys[10], keys[11], keys[12]
  K_PAUSED, K_UNIQUE, K_LIMITS = keys[13], keys[14], keys[15]
  K_PENDING, K_DEPS, K_OUTBOX = keys[16], keys[17], keys[18]
  K_AUDIT, K_READY_LIST = keys[19], keys[20]
  -- The queue's own prefix, `wjp:{queue}:`: the group keys share its hash
  -- tag, as the job keys found through an index do (see above).
  QUEUE_PREFIX = sub(K_READY, 1, -6)
  K_GROUPS = QUEUE_PREFIX .. 'groups'
  K_GROUP_STATE, K_GROUP_RUNNING = QUEUE_PREFIX .. 'group_state', QUEUE_PREFIX .. 'group_running'
  groups_running = nil
  PREFIX, MAXLEN = args[1], args[2]
  adds, removals, lease_sets, lease_dels, pending_dels = {}, {}, {}, {}, {}
  ready.pushes, ready.dels, ready.tail, ready.tail_ls = {}, {}, nil, nil
  if ready.late_of ~= QUEUE_PREFIX then
    ready.late_key, ready.late_of = QUEUE_PREFIX .. 'ready_late', QUEUE_PREFIX
  end
  ready.late_pushes, ready.late = {}, nil
  -- Made when needed: a table a call makes costs it, whether used or not.
  ready.took, ready.unshift, ready.from_list, ready.keys = nil, nil, nil, nil
  ready.late_taken = nil
  deps_exist, deps_moved = nil, false
  bytes_delta = 0
  events, line_before = {}, {}
  audit_text = nil
  now_ms = nil
end

-- The server's clock in ms: what judges an ended job's expiry, as the
-- server's own expiry of a key with a TTL does. One TIME per call at most.
local function server_now()
  if not now_ms then
    local t = redis_call('TIME')
    now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return now_ms
end

-- Where a job's record is. A record without an expiry (a waiting job's,
-- or a running one's, which stays where it waited) of at most
-- PACKED_MAX bytes (record.rs) is a field, named by the job's id, of one of
-- its queue's record hashes: `<queue prefix>r:` and the id's last two
-- characters (3,844 hashes for generated ids, 16 made in a row sharing
-- one: see `records.by_runs`). Any other record (an ended
-- one, whose expiry the server may enforce; a larger one) is a string key
-- of its own, the job key (`PREFIX .. id`). Redis keeps a hash of at most
-- 128 fields, each of at most 64 bytes, as one compact listpack (its
-- defaults, `hash-max-listpack-entries` and `-value`): a packed record
-- costs its bytes, the id's and a few more, where a key of its own costs
-- about 100 bytes more than that (BENCHMARKS.md, Redis memory per queued
-- job). Past 492,000 waiting jobs in a queue its hashes grow past 128
-- fields and Redis stores them as tables, still smaller than keys. A
-- record is in one place at a time: every write to one place takes it out
-- of the other. Readers look in the hash first, then at the key; a claim
-- looks first where its queue's last claimed record was (`records.of`);
-- an end deletes a hash field only for a record short enough to have been
-- packed (finish.lua). One table: the library's main chunk may hold at
-- most 200 locals.
local records = { keyed = {} }
-- The record hash of the job `id` (`prefix`, the hashes' common start, is
-- made once per queue a process's library serves in turn, not per job).
function records.hash(id)
  if records.prefix_of ~= QUEUE_PREFIX then
    records.prefix, records.prefix_of = QUEUE_PREFIX .. 'r:', QUEUE_PREFIX
  end
  return records.prefix .. sub(id, -2)
end
-- The record hash of the job key `key`, and the job's id.
function records.hash_of(key)
  local id = sub(key, #PREFIX + 1)
  return records.hash(id), id
end
-- The whole record of the job `id`, or false when there is none, for a
-- claim, which looks first where the queue's last claimed record was
-- found, as a key (`keyed[queue prefix]`, kept from call to call) or in
-- its hash; `packed` is what the claim found in the hash (`records.by_runs`:
-- the record, or false), or nil when it did not look there first. A
-- queue's jobs are mostly alike, a shop's all too large to pack, a test's
-- all small, and a wrong guess costs one look more.
function records.of(id, packed)
  if packed then return packed end
  local keyed = records.keyed
  if packed == false then
    local rec = redis_call('GET', PREFIX .. id)
    if rec then keyed[QUEUE_PREFIX] = true end
    return rec
  end
  local rec = redis_call('GET', PREFIX .. id)
  if rec then return rec end
  rec = redis_call('HGET', records.hash(id), id)
  if rec then keyed[QUEUE_PREFIX] = nil end
  return rec
end
-- Whether a record is packed rather than a key of its own (see above).
function records.packs(rec, expires_at)
  return not expires_at and #rec <= PACKED_MAX
end
-- The start of the job `id`'s record (all of a packed one, the first 256
-- bytes of one of its own), or '' when there is none.
function records.start(id)
  return redis_call('HGET', records.hash(id), id) or redis_call('GETRANGE', PREFIX .. id, 0, 255)
end
-- Deletes a job's record, wherever it is.
function records.delete(key)
  local hash, id = records.hash_of(key)
  redis_call('HDEL', hash, id)
  redis_call('DEL', key)
end

-- Integers as exact decimal text (tostring would round big ones). `%d`
-- formats through a 64-bit integer, exact for every value we store
-- (times in ms, sequences), and costs a fifth of `%.0f`, which goes
-- through glibc's arbitrary-precision float printing.
local function int(n)
  return string.format('%d', n)
end

-- Claim order as a fixed-width text: priority (highest first), run-at,
-- then enqueue sequence, each as digits of base 64 (READY_KEY_WIDTHS,
-- from record.rs: 6, 8 and 7 of them), digit d written as the byte
-- 48 + d ('0' to 'o': ascending, never '|' or a newline), so the texts sort
-- as the jobs' claim order. Members of the ready set and of the groups'
-- indexes are `<ready key>|<id>`: 21 + 1 + 22 bytes for a generated id,
-- within Redis's 48-byte allocation where 37 decimal digits and a UUID
-- took an 80-byte one (and 16 bytes of every waiting job's header). The
-- ready lists hold the id alone (see Ready jobs).
local order_digits = {}
local function base64_digits(n, width)
  local d = order_digits
  n = math.max(0, math.min(n, 64 ^ width - 1))
  for i = width, 1, -1 do
    local q = math.floor(n / 64)
    d[i] = 48 + (n - q * 64)
    n = q
  end
  return string.char(unpack(d, 1, width))
end
-- The digits of the last priority, run-at and sequence (but its last
-- digit) written: the jobs of a call mostly share the first two and
-- follow each other in the third, and writing digits one by one in Lua
-- cost an enqueue a third more instructions than all its other work.
local last_priority, last_priority_digits, last_run_at, last_run_at_digits
local last_seq_high, last_seq_high_digits
-- The last key made, then the three numbers its digits hold (see
-- `ready_add`, which compares keys by them). A table: the library's main
-- chunk may hold at most 200 locals.
local made = {}
local function ready_key(priority, run_at, seq)
  local w = READY_KEY_WIDTHS
  if priority ~= last_priority then
    made[2] = math.max(0, math.min(2147483647 - tonumber(priority), 64 ^ w[1] - 1))
    last_priority_digits = base64_digits(made[2], w[1])
    last_priority = priority
  end
  if run_at ~= last_run_at then
    made[3] = math.max(0, math.min(tonumber(run_at), 64 ^ w[2] - 1))
    last_run_at_digits = base64_digits(made[3], w[2])
    last_run_at = run_at
  end
  seq = math.max(0, math.min(tonumber(seq), 64 ^ w[3] - 1))
  made[4] = seq
  local high = math.floor(seq / 64)
  if high ~= last_seq_high then
    last_seq_high_digits = base64_digits(high, w[3] - 1)
    last_seq_high = high
  end
  made[1] = last_priority_digits .. last_run_at_digits .. last_seq_high_digits ..
    string.char(48 + seq - high * 64)
  return made[1]
end
-- The three numbers the digits of a ready key (or of the start of a
-- member) hold.
local function ready_key_numbers(rk)
  local numbers, at = {}, 1
  for part = 1, 3 do
    local n = 0
    for i = at, at + READY_KEY_WIDTHS[part] - 1 do n = n * 64 + byte(rk, i) - 48 end
    numbers[part], at = n, at + READY_KEY_WIDTHS[part]
  end
  return numbers[1], numbers[2], numbers[3]
end
-- Whether the ready key `ready_key` makes of `priority` and `run_at`
-- (texts, as it got them) for a job with list score `ls` (text) is the
-- plain one: the default priority, due at its creation, as most jobs are.
-- A stored header leaves such a key out (see `records.head`): 21 of a
-- waiting no-op job's 60 bytes. Compared as texts (a list score is the
-- creation's milliseconds and three digits): `tonumber` of a 16-digit
-- list score cost an enqueue 2,000 instructions.
function ready.is_plain(priority, run_at, ls)
  return priority == '0' and run_at == sub(ls, 1, -4)
end
-- The plain ready key of a job with list score `ls` and sequence `seq`
-- (texts), which a stored header leaves out.
function ready.plain_key(ls, seq)
  local w = READY_KEY_WIDTHS
  return base64_digits(2147483647, w[1]) .. base64_digits(math.floor(tonumber(ls) / 1000), w[2]) ..
    base64_digits(tonumber(seq), w[3])
end

-- Index changes are collected and sent at the end of a call, one
-- ZADD/ZREM per index instead of one per job: each `redis.call` costs about
-- a microsecond besides its own work. A call never changes the
-- same job twice (the Rust side splits batches on repeated ids), so
-- removals-then-additions is the same as doing them in order.
-- t[k], made an empty table first if there is none.
local function table_at(t, k)
  local v = t[k]
  if not v then
    v = {}
    t[k] = v
  end
  return v
end
-- Sorts strings as sorted sets order their members: byte by byte. Lua's
-- `<` on strings follows the server's collation (Redis takes LC_COLLATE
-- from its environment), which under a locale such as en_US.UTF-8 puts
-- 'a' before 'B' and passes over punctuation: ready keys, whose base-64
-- digits run from '0' to 'o', would leave claim order.
local function byte_order(a, b)
  local n = #a < #b and #a or #b
  for i = 1, n do
    local x, y = byte(a, i), byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local function sort_bytewise(list)
  table.sort(list, byte_order)
end

local function zadd(key, score, member)
  local list = table_at(adds, key)
  list[#list + 1] = score
  list[#list + 1] = member
end
local function zrem(key, member)
  local list = table_at(removals, key)
  list[#list + 1] = member
end
local function set_lease(id, text)
  lease_sets[#lease_sets + 1] = id
  lease_sets[#lease_sets + 1] = text
end
local function drop_lease(id)
  lease_dels[#lease_dels + 1] = id
end
-- `command key item...`, or `command item...` without a key, over the
-- items in calls of at most CHUNK (an even number: pairs stay together).
local CHUNK = 2000 -- stays under Lua's limit on unpacked arguments
local function in_chunks(command, key, list)
  for i = 1, #list, CHUNK do
    local last = math.min(i + CHUNK - 1, #list)
    if key then
      redis_call(command, key, unpack(list, i, last))
    else
      redis_call(command, unpack(list, i, last))
    end
  end
end
-- Runs of ids that share their record hash, one command per run: where
-- `ids[i..j]` end in the same two characters (as generated ids made in a
-- row do: `ID_RUN` in job.rs), `command(hash, ids[i..j])`, and the
-- reply's items go to `out[i..j]` when `out` is given. Jobs enqueued
-- together are claimed together and mostly end together, so a call's
-- ids come in a few runs, and a command per job cost a script far more
-- than the command did. Runs are found by comparing the last two bytes
-- of neighbours: no string, no table per id (a grouping table per call
-- cost more than it saved for ids that share nothing, a client's).
function records.by_runs(command, ids, from, to, out)
  local i = from
  while i <= to do
    local a, b = byte(ids[i], -2, -1)
    local j = i
    while j < to and j - i + 1 < CHUNK do
      local c, d = byte(ids[j + 1], -2, -1)
      if c ~= a or d ~= b then break end
      j = j + 1
    end
    local hash = records.hash(ids[i])
    if j == i and command == 'HMGET' then
      if out then out[i] = redis_call('HGET', hash, ids[i]) end
    else
      local reply = redis_call(command, hash, unpack(ids, i, j))
      if out then
        for k = i, j do out[k] = reply[k - i + 1] end
      end
    end
    i = j + 1
  end
end
local function flush()
  for key, list in pairs(removals) do in_chunks('ZREM', key, list) end
  if #ready.dels > 0 then
    -- A member is in one of the three: the lists are looked through only
    -- for those the sorted set did not hold. LREM reads a list up to the
    -- job's id, from the end whose run-at is nearer its own (run-ats do
    -- not fall along the list): a cancel of the newest of a million queued
    -- jobs reads a few entries, not the whole list. The run-ats of a
    -- list's ends come from their records, read only when a member is not
    -- in the set.
    local ends = {}
    for _, key in ipairs({ K_READY_LIST, ready.late_key }) do
      local head = redis_call('LINDEX', key, 0)
      if head then ends[#ends + 1] = { key, head } end
    end
    if #ends == 0 then
      in_chunks('ZREM', K_READY, ready.dels)
    else
      for _, member in ipairs(ready.dels) do
        if redis_call('ZREM', K_READY, member) == 0 then
          local _, run_at = ready_key_numbers(member)
          local id = sub(member, READY_KEY_LEN + 2)
          for _, e in ipairs(ends) do
            if not e[3] then
              e[3] = ready.run_at_in(e[2])
              e[4] = ready.run_at_in(redis_call('LINDEX', e[1], -1))
            end
            local from_tail = e[4] - run_at < run_at - e[3]
            if redis_call('LREM', e[1], from_tail and -1 or 1, id) > 0 then break end
          end
        end
      end
    end
    ready.dels = {}
  end
  for key, list in pairs(adds) do in_chunks('ZADD', key, list) end
  for key, back in pairs(ready.unshift or {}) do
    -- Entries a claim took from a list's head and did not keep go back
    -- there in the order they were read, which is claim order (LPUSH puts
    -- its last argument first).
    local at = ready.list_pos
    table.sort(back, function(a, b) return at[a] < at[b] end)
    local reversed = {}
    for i = #back, 1, -1 do reversed[#reversed + 1] = back[i] end
    in_chunks('LPUSH', key, reversed)
  end
  ready.unshift = nil
  in_chunks('RPUSH', K_READY_LIST, ready.pushes)
  in_chunks('RPUSH', ready.late_key, ready.late_pushes)
  ready.pushes, ready.late_pushes = {}, {}
  in_chunks('HDEL', K_LEASES, lease_dels)
  in_chunks('HSET', K_LEASES, lease_sets)
  in_chunks('HDEL', K_PENDING, pending_dels)
  adds, removals, lease_sets, lease_dels, pending_dels = {}, {}, {}, {}, {}
  if bytes_delta ~= 0 then
    redis_call('INCRBY', K_BYTES, int(bytes_delta))
    bytes_delta = 0
  end
end

-- Ready jobs. The plain ready index (queued jobs without a fairness group,
-- in claim order: the byte order of `<ready key>|<id>`) is three
-- structures: K_READY_LIST, a list in claim order that grows only at its
-- tail, holds jobs of the default priority (0) that arrived after every
-- job in it (enqueued to run now: the common case) with a list score
-- above every job in it; the late list (`ready.late_key`, `ready_late`),
-- a list like it, holds the jobs that arrived after every job of both
-- lists with a list score that is not; and K_READY, a sorted set with
-- every score 0 and members `<ready key>|<id>`, holds the others. An
-- entry of either list is the job's id alone: its ready key is in its
-- record's header (F_RK), read from the record's start where a merge
-- needs it (`ready.key_of`, `ready.load_tail`), never with the body. A
-- list entry of a generated id costs about 24 bytes of Redis memory
-- (46 with the ready key), a sorted-set entry about 145 (see
-- BENCHMARKS.md). Only the default priority goes to the list: one job of a
-- low priority at its tail would send every later job to the set for as
-- long as it waits. A due job stamped earlier than the tail (by another
-- producer's clock) is ordered by the tail's run-at (`ready.run_at`). The
-- claim order is the three merged (`ready_take`), which reads records
-- only where two of them hold jobs. Taking a job out of a list's middle (a
-- cancel, a rewrite) reads the list from its nearer end up to it
-- (`flush`).
--
-- A job of K_READY_LIST has no entry in K_ALL (about 130 bytes): listings
-- read the list itself (list.lua), which is in list-score order as well
-- as in claim order. The list score of a job is its creation time (ms)
-- times 1000 plus the last three digits of its enqueue sequence, and its
-- creation time is read back from it (record.rs): it cannot be changed to
-- follow arrival. The two orders disagree for the jobs of one batch past
-- a sequence number that ends in 000 (they share their creation time),
-- for a job stamped by another producer's clock before the list's tail,
-- and for a job that comes back with its old score (a promotion, a retry,
-- a release, a rewrite): such a job waits in the late list, listed by
-- K_ALL, as every job of the ready list was before. Entries layout 4
-- wrote in K_READY_LIST have a K_ALL entry too; they are all before
-- the first entry without one, and list.lua leaves them to K_ALL. Lists
-- of layouts 4 to 6, whose entries were `<ready key>|<id>`, are
-- rewritten to ids when this layout marks the server (relist.lua).

-- The ready key and list score (text) in the header of the job `id`'s
-- record, or nil when there is none (or no id: a list emptied meanwhile),
-- read from the record's start alone: no header taken apart, no lease, no
-- body. (The sequence, the list score and the ready key are the header's
-- last three stored fields, a test in record.rs keeps them there.)
function ready.order_of(id)
  if not id then return nil end
  if not ready.order_pattern then
    ready.order_pattern = '^' .. string.rep('[^|]*|', F_SEQ - 1) .. '(%d+)|(%d+)|([^|\n]*)\n'
  end
  local seq, ls, rk = match(records.start(id), ready.order_pattern)
  if rk == '' then rk = ready.plain_key(ls, seq) end
  return rk, ls
end
-- The numbers of the ready key of a list's entry, from its record; each
-- past every ready key's when there is no record (an edit by hand), so
-- that no job is ordered after it.
function ready.numbers_in(id)
  local rk, ls = ready.order_of(id)
  if rk and #rk == READY_KEY_LEN then
    local p, r, q = ready_key_numbers(rk)
    return p, r, q, tonumber(ls)
  end
  return math.huge, math.huge, math.huge, nil
end
-- The run-at in the ready key of a list's entry (0 without a record).
function ready.run_at_in(id)
  local _, r = ready.numbers_in(id)
  return r < math.huge and r or 0
end
-- The id of an entry of the plain ready index: a member of the set is
-- `<ready key>|<id>`, an entry of a list the id (ids hold no '|').
function ready.id_of(entry)
  if byte(entry, READY_KEY_LEN + 1) == 124 then return sub(entry, READY_KEY_LEN + 2) end
  return entry
end
-- The claim-order key of an entry of the plain ready index: a set's
-- member is its own; a list's id gets its record's ready key before it,
-- read once a call; without a record, '' (first: a claim takes the entry
-- and drops it as stale).
function ready.key_of(entry)
  if byte(entry, READY_KEY_LEN + 1) == 124 then return entry end
  local keys = ready.keys
  if not keys then
    keys = {}
    ready.keys = keys
  end
  local key = keys[entry]
  if not key then
    local rk = ready.order_of(entry)
    key = rk and rk .. '|' .. entry or ''
    keys[entry] = key
  end
  return key
end

-- `ready.tail` and the numbers of its ready key, and the list score a job
-- must pass to join the list (`ready.tail_ls`: none, -inf, when the list
-- is empty; none may pass, +inf, when the tail's record is gone, which
-- only an edit by hand does); `ready.late` and its numbers. Read once a
-- call, each tail's from the start of its record: one GETRANGE gives
-- both the ready key and the list score (a whole header taken apart cost
-- a single enqueue a sixth more). (A tail of layout 4, listed by K_ALL,
-- is passed like any other: the jobs after it are then in list-score
-- order among themselves, which is what list.lua needs.) (`ready`'s
-- functions are fields: the library's main chunk may hold at most 200
-- locals.)
function ready.load_tail()
  if ready.tail == nil then
    ready.tail = redis_call('LINDEX', K_READY_LIST, -1)
    ready.tail_ls = -math.huge
    if ready.tail then
      local ls
      ready[1], ready[2], ready[3], ls = ready.numbers_in(ready.tail)
      ready.tail_ls = ls or math.huge
    end
    ready.late = redis_call('LINDEX', ready.late_key, -1)
    if ready.late then ready[4], ready[5], ready[6] = ready.numbers_in(ready.late) end
  end
end
-- The run-at a due job of the default priority without a group is ordered
-- by: its own, or the ready list's tail's when that is later. Producers'
-- clocks and the arrival of their calls disagree by milliseconds (a batch
-- stamped earlier arrives later): ordered by its own run-at, such a job
-- would sort before the tail and cost a sorted-set entry instead of a list
-- entry (three batches submitted at once sent two thirds of their jobs to
-- the set). Due jobs of one priority are claimed in the order of their
-- run-at, or of their arrival where a later-stamped job arrived first.
-- (`insert.lua` asks once per run-at text of a call: the jobs of a call
-- share it, and converting it to a number costs.)
function ready.run_at(run_at)
  if ready.tail == nil then ready.load_tail() end
  local n = tonumber(run_at)
  local floor = n
  if ready.tail and ready[1] == 2147483647 and ready[2] > floor then floor = ready[2] end
  if ready.late and ready[4] == 2147483647 and ready[5] > floor then floor = ready[5] end
  if floor > n then return floor end
  return run_at
end
-- Adds a job with ready key `rk` and list score `ls` (a number) to the
-- plain ready index (written by `flush`): K_READY_LIST when it comes
-- after its tail in both orders, else the late list when it comes after
-- that one's tail in claim order, else the set. Returns true when it
-- joined K_READY_LIST, where it is listed without a K_ALL entry. Keys
-- are compared by the numbers their digits hold, which order them as
-- their bytes do: a byte-by-byte loop in Lua cost an enqueue 40% more
-- Redis instructions. The tails are read only for a job of the default
-- priority, the only one a list may take.
-- An enqueue's keys were just made (`made`): their numbers are known.
local function ready_add(rk, id, ls)
  local t = ready
  local p, r, q
  if rk == made[1] then
    p, r, q = made[2], made[3], made[4]
  else
    p, r, q = ready_key_numbers(rk)
  end
  -- 2147483647: the priority number of priority 0 (`ready_key`).
  if p == 2147483647 then
    if t.tail == nil then t.load_tail() end
    if ls and ls > t.tail_ls and
        (not t.tail or p > t[1] or (p == t[1] and (r > t[2] or (r == t[2] and q > t[3])))) then
      t.pushes[#t.pushes + 1] = id
      t.tail, t[1], t[2], t[3], t.tail_ls = id, p, r, q, ls
      return true
    end
    if not t.late or p > t[4] or (p == t[4] and (r > t[5] or (r == t[5] and q > t[6]))) then
      t.late_pushes[#t.late_pushes + 1] = id
      t.late, t[4], t[5], t[6] = id, p, r, q
      return false
    end
  end
  zadd(K_READY, '0', rk .. '|' .. id)
  return false
end
-- Up to `max` entries of the plain ready index, first in claim order
-- first, taken out of it now: ranges and removals by rank (all members of
-- the set score 0, so rank is claim order), not ZPOPMIN, whose scores
-- cost formatting and a Lua string per job, for nothing. An entry is a
-- set's member or a list's id (`ready.id_of`).
local function ready_take(max)
  local set = redis_call('ZRANGE', K_READY, 0, max - 1)
  local list = redis_call('LRANGE', K_READY_LIST, 0, max - 1)
  local late = redis_call('LRANGE', ready.late_key, 0, max - 1)
  local out, s, l, t
  if #list == 0 and #late == 0 then
    -- One index holds jobs (the common cases): no comparison at all, no
    -- record read.
    out, s, l, t = set, #set, 0, 0
  elseif #set == 0 and #late == 0 then
    out, s, l, t = list, 0, #list, 0
  elseif #set == 0 and #list == 0 then
    out, s, l, t = late, 0, 0, #late
  else
    -- A merge by runs: the index whose head comes first gives every job
    -- before the others' first heads at once, found by halving: keys
    -- are compared byte by byte in Lua (`byte_order`), which costs, and
    -- a list's entry's key is read from its record (`ready.key_of`), so
    -- not once per job.
    local key_of = ready.key_of
    local held = { { set, 1 }, { list, 1 }, { late, 1 } }
    out = {}
    while #out < max do
      local first, first_key, limit
      for _, src in ipairs(held) do
        local h = src[1][src[2]]
        if h then
          local key = key_of(h)
          if not first then
            first, first_key = src, key
          elseif byte_order(key, first_key) then
            if not limit or byte_order(first_key, limit) then limit = first_key end
            first, first_key = src, key
          elseif not limit or byte_order(key, limit) then
            limit = key
          end
        end
      end
      if not first then break end
      local members, at = first[1], first[2]
      local last = #members
      if limit and not byte_order(key_of(members[last]), limit) then
        -- The last entry before `limit`: members[at] is.
        local lo, hi = at, last
        while hi - lo > 1 do
          local mid = math.floor((lo + hi) / 2)
          if byte_order(key_of(members[mid]), limit) then lo = mid else hi = mid end
        end
        last = lo
      end
      last = math.min(last, at + max - #out - 1)
      for i = at, last do out[#out + 1] = members[i] end
      first[2] = last + 1
    end
    s, l, t = held[1][2] - 1, held[2][2] - 1, held[3][2] - 1
  end
  if s > 0 then redis_call('ZREMRANGEBYRANK', K_READY, 0, s - 1) end
  -- Noted for `ready.put_back`: entries[1..taken] of each came from it.
  if l > 0 then
    redis_call('LTRIM', K_READY_LIST, l, -1)
    ready.took = ready.took or {}
    ready.took[#ready.took + 1] = { list, l, K_READY_LIST }
  end
  if t > 0 then
    redis_call('LTRIM', ready.late_key, t, -1)
    ready.took = ready.took or {}
    ready.took[#ready.took + 1] = { late, t, ready.late_key }
    if t == #out then
      ready.late_taken = true
    else
      ready.late_taken = {}
      for i = 1, t do ready.late_taken[late[i]] = true end
    end
  end
  return out
end
-- The entries `ready_take` took from the lists in this call: entry ->
-- its list's key (and, in `ready.list_pos`, entry -> its place in what
-- was read of that list). Made only when one goes back (rare).
function ready.list_members()
  local took = ready.took or {}
  local from_list = ready.from_list
  if not from_list or from_list.n ~= #took then
    from_list = { n = #took }
    local at = {}
    for _, read in ipairs(took) do
      for j = 1, read[2] do from_list[read[1][j]], at[read[1][j]] = read[3], j end
    end
    ready.from_list, ready.list_pos = from_list, at
  end
  return from_list
end
-- An entry `ready_take` took in this call that is not kept goes back:
-- one of a list to that list's head (`flush`), where it was, so that the
-- list keeps its orders (a job of K_READY_LIST is listed from it, with
-- no K_ALL entry); one of the set to the set.
function ready.put_back(entry)
  local key = ready.list_members()[entry]
  if key then
    ready.unshift = ready.unshift or {}
    local back = table_at(ready.unshift, key)
    back[#back + 1] = entry
  else
    zadd(K_READY, '0', entry)
  end
end
-- How many jobs the plain ready index holds.
local function ready_count()
  return redis_call('ZCARD', K_READY) + redis_call('LLEN', K_READY_LIST) +
    redis_call('LLEN', ready.late_key)
end

-- Fairness groups. A queued job of a group waits in its group's index,
-- `group:<name>` (members and order as in K_READY), not in the plain
-- ready index (the two lists and K_READY), which holds the queued jobs
-- without a group. K_GROUPS, the round, holds each
-- group with queued jobs, scored by the turn it was last served in (a
-- newcomer gets the next turn: it joins the end of the round).
-- K_GROUP_STATE holds `turn` (the last turn given), `plain` (the turn of
-- the jobs without a group, served as one more group) and `ready` (the
-- jobs in the groups' indexes, which the queue's waiting counts add).
-- K_GROUP_RUNNING counts each group's running jobs, for the queue's
-- `per_group` limit. A claim takes in turns only while K_GROUPS exists
-- (`take_in_turns`); the plain path pays one EXISTS. Due scheduled jobs
-- of a group wait for maintenance's promotion (each second) to enter their
-- group's index.
-- The group of a job is in its body, right after the payload size (body.rs).
local function group_in(text, at)
  return match(text, '^{"pl":%d+,"g":"([^"]+)"', at) or match(text, '^{"g":"([^"]+)"', at)
end
local function record_group(rec)
  local nl = rec and find(rec, '\n', 1, true)
  return nl and group_in(rec, nl + 1) or nil
end
local function group_key(group)
  return QUEUE_PREFIX .. 'group:' .. group
end
-- A queued job of `group` (its ready member) enters its group's index.
local function group_index(group, member)
  local key = group_key(group)
  if redis_call('ZADD', key, '0', member) == 1 then
    redis_call('HINCRBY', K_GROUP_STATE, 'ready', 1)
    if redis_call('ZCARD', key) == 1 then
      redis_call('ZADD', K_GROUPS, 'NX', redis_call('HINCRBY', K_GROUP_STATE, 'turn', 1), group)
    end
  end
end
local function group_unindex(group, member)
  local key = group_key(group)
  if redis_call('ZREM', key, member) == 1 then
    redis_call('HINCRBY', K_GROUP_STATE, 'ready', -1)
    if redis_call('EXISTS', key) == 0 then redis_call('ZREM', K_GROUPS, group) end
  end
end
-- The queued jobs in groups' indexes.
local function grouped_ready()
  return tonumber(redis_call('HGET', K_GROUP_STATE, 'ready')) or 0
end
-- A job of `group` starts or stops running.
local function group_started(group)
  if group then
    redis_call('HINCRBY', K_GROUP_RUNNING, group, 1)
    groups_running = true
  end
end
local function group_stopped(group)
  if group and redis_call('HINCRBY', K_GROUP_RUNNING, group, -1) <= 0 then
    redis_call('HDEL', K_GROUP_RUNNING, group)
  end
end
-- Whether any job of a group runs in this queue (looked at once a call):
-- the ends of a queue without grouped jobs need not look for groups.
local function any_group_running()
  if groups_running == nil then groups_running = redis_call('EXISTS', K_GROUP_RUNNING) == 1 end
  return groups_running
end

-- Up to `max` queued jobs taken out of their indexes in turns: one of the
-- group whose turn is oldest, then one of the next, each served group
-- taking the newest turn; the jobs without a group (`ready_take`) take theirs
-- as one more group. A group with `per_group` running jobs is passed
-- over. Returns nil when the queue has no group with queued jobs (the
-- caller claims as before), else {members in claim order, group = member
-- -> group name (nil without one)}. Order within a group is claim order.
local function take_in_turns(max)
  if redis_call('EXISTS', K_GROUPS) == 0 then return nil end
  local cap = tonumber(redis_call('HGET', K_LIMITS, 'per_group'))
  local st = redis_call('HMGET', K_GROUP_STATE, 'turn', 'plain')
  local turn, plain_turn = tonumber(st[1]) or 0, tonumber(st[2]) or 0
  local plain_due = redis_call('EXISTS', K_READY, K_READY_LIST, ready.late_key) > 0
  local taken = { members = {}, group = {} }
  local members = taken.members
  -- The round is read a chunk at a time, oldest turn first; it does not
  -- change until the end of the call. Served groups come back after it.
  local CHUNK_OF_ROUND = math.max(max, 16)
  local round, at, offset, round_read = {}, 1, 0, false
  local again, again_at = {}, 1
  local function next_group()
    if at > #round and not round_read then
      round = redis_call('ZRANGE', K_GROUPS, offset, offset + CHUNK_OF_ROUND - 1, 'WITHSCORES')
      offset, at = offset + CHUNK_OF_ROUND, 1
      round_read = #round < 2 * CHUNK_OF_ROUND
    end
    if at <= #round then
      if plain_due and plain_turn <= tonumber(round[at + 1]) then
        plain_due = false
        return ''
      end
      at = at + 2
      return round[at - 2]
    end
    if plain_due then
      plain_due = false
      return ''
    end
    if again_at <= #again then
      again_at = again_at + 1
      return again[again_at - 1]
    end
    return nil
  end
  local running, served, count = {}, {}, {}
  local grouped_taken = 0
  while #members < max do
    local group = next_group()
    if not group then break end
    local want = 1
    if round_read and at > #round and not plain_due and again_at > #again then
      -- The last group with jobs: the rest at once.
      want = max - #members
    end
    if cap and group ~= '' then
      if not running[group] then
        running[group] = tonumber(redis_call('HGET', K_GROUP_RUNNING, group)) or 0
      end
      want = math.min(want, cap - running[group] - (count[group] or 0))
    end
    if want > 0 then
      local got
      if group == '' then
        got = ready_take(want)
      else
        local key = group_key(group)
        got = redis_call('ZRANGE', key, 0, want - 1)
        if #got > 0 then redis_call('ZREMRANGEBYRANK', key, 0, #got - 1) end
      end
      if #got > 0 then
        for _, member in ipairs(got) do
          members[#members + 1] = member
          if group ~= '' then taken.group[member] = group end
        end
        if group ~= '' then grouped_taken = grouped_taken + #got end
        count[group] = (count[group] or 0) + #got
        turn = turn + 1
        served[group] = turn
        if #got == want then again[#again + 1] = group end
      end
    end
  end
  for group, t in pairs(served) do
    if group == '' then
      redis_call('HSET', K_GROUP_STATE, 'plain', int(t))
    elseif redis_call('EXISTS', group_key(group)) == 1 then
      redis_call('ZADD', K_GROUPS, 'XX', int(t), group)
    else
      redis_call('ZREM', K_GROUPS, group)
    end
  end
  redis_call('HSET', K_GROUP_STATE, 'turn', int(turn))
  if grouped_taken > 0 then redis_call('HINCRBY', K_GROUP_STATE, 'ready', -grouped_taken) end
  return taken
end
-- Up to `n` queued jobs of the groups' indexes, added to `members`, each
-- noted in `in_group` (member -> group): for a purge.
local function grouped_members(n, members, in_group)
  if n <= 0 then return end
  for _, group in ipairs(redis_call('ZRANGE', K_GROUPS, 0, -1)) do
    for _, member in ipairs(redis_call('ZRANGE', group_key(group), 0, n - 1)) do
      members[#members + 1] = member
      in_group[member] = group
      n = n - 1
    end
    if n <= 0 then return end
  end
end
-- An entry `take_in_turns` took that the claim does not keep goes back.
local function back_in_turn(taken, member)
  local group = taken.group[member]
  if group then group_index(group, member) else ready.put_back(member) end
end

-- Takes a job out of the index of the status it is in (`rk`: its ready
-- key; `group`: its fairness group, if any).
local function unindex(id, status, rk, group)
  if status == 'queued' then
    if rk and group then
      group_unindex(group, rk .. '|' .. id)
    elseif rk then
      ready.dels[#ready.dels + 1] = rk .. '|' .. id
    end
  elseif status == 'scheduled' then
    zrem(K_SCHED, id)
  elseif status == 'waiting' then
    pending_dels[#pending_dels + 1] = id
  elseif status == 'running' then
    drop_lease(id)
    group_stopped(group)
  elseif K_ENDED[status] then
    zrem(K_ENDED[status], id)
    zrem(K_EXP, id)
  end
end

-- Listings (list.lua) find a job by its list score in one place: a
-- waiting job in K_ALL, but a queued job of the ready list in the list
-- itself (see Ready jobs); a running job in the lease hash (the claim
-- takes out the K_ALL entry of a job that has one, claim.lua); an ended
-- job in the index of its status (K_ENDED), so a retained job costs one
-- sorted-set entry, not two. A K_ALL entry of a running or ended job (a
-- claim by an earlier version left it) is passed over by listings and
-- removed when the job is swept or ends again.

-- Puts a job into the index of its (new) status, and into K_ALL where
-- that is where it is listed; takes it out of K_ALL otherwise, unless it
-- is `fresh` (just made: it has no entry). `ls`: its list score as text.
-- The caller stores an ended job's expiry (see `store`).
local function index(id, status, rk, run_at, ls, expires_at, group, fresh)
  if status == 'queued' and group then
    group_index(group, rk .. '|' .. id)
    zadd(K_ALL, ls, id)
  elseif status == 'queued' then
    if ready_add(rk, id, tonumber(ls)) then
      if not fresh then zrem(K_ALL, id) end
    else
      zadd(K_ALL, ls, id)
    end
  elseif status == 'scheduled' then
    zadd(K_SCHED, run_at, id)
    zadd(K_ALL, ls, id)
  elseif status == 'waiting' then
    zadd(K_ALL, ls, id)
  elseif K_ENDED[status] then
    zadd(K_ENDED[status], ls, id)
    zadd(K_EXP, expires_at, id)
    if not fresh then zrem(K_ALL, id) end
  end
end

-- A job is one string, its record: a header of `|`-separated fields that
-- scripts read and write, a newline, and the job's body (compact JSON, see
-- body.rs), which scripts store, pass on, and never parse. Every byte that
-- enters Lua costs (each string a script receives or makes is interned:
-- hashed in full, and collected later), so scripts that need only the
-- header read only the start of the record (`raw_head`);
-- the claim passes the records through because the round trip a separate
-- fetch of the bodies costs matters more (claim.lua).
--
-- A running job's record keeps the header it had before the claim (status
-- queued or scheduled); the claim is an entry in the queue's lease hash
-- (K_LEASES, below). The job *is* running while that entry exists; readers
-- merge the two (`load`, `view`). Claims, renewals and progress then touch
-- only the lease entries, in one HSET per batch.
--
-- An ended job's header ends with its expiry (ms). The completion path
-- (finish.lua) writes its records with one MSET and no TTL: a SET with
-- PXAT per job cost a drained job about a tenth of its Redis time, most of
-- it the command call itself. Such a record is gone for every reader once
-- the server's clock passes that expiry (`stored`), and the sweep
-- deletes it (sweep.lua). Records ended elsewhere (`store`) also get a
-- TTL.
--
-- The header's fields (F_*, STORED of them in a record, FIELDS in the
-- header a reader sees of a running job, the rest from its lease) are
-- defined in record.rs; the prelude numbers them. The last stored field is
-- a waiting job's ready key, or an ended job's expiry (`stored`,
-- `status_and_expiry`).
-- Worker names and progress messages arrive hex-encoded, so they never
-- contain a separator.

-- The `n` captures of `pattern` in `text` as a list, or nil when the text
-- is missing (false from Redis) or does not match.
local function fields_of(text, pattern, n)
  if not text then return nil end
  local fields = { string.match(text, pattern) }
  if #fields ~= n then return nil end
  return fields
end

-- The fields of a stored header, or nil: its status as a word (a header
-- stores a letter, record.rs `STATUS_CODES`; earlier ones the word), and
-- a waiting job's plain ready key where the header leaves it out (see
-- `records.head`).
local function parse(head)
  local cur = fields_of(head, HEADER, STORED)
  if not cur then return nil end
  local status = STATUS.word[cur[F_STATUS]] or cur[F_STATUS]
  cur[F_STATUS] = status
  if cur[F_RK] == '' and not K_ENDED[status] then
    cur[F_RK] = ready.plain_key(cur[F_LS], cur[F_SEQ])
  end
  return cur
end

-- Status, attempt and kind of a stored header, or of a whole record, and
-- the header's start through the kind (four values, no table), found with
-- plain searches: a pattern match costs a claim more than the rest of its
-- string work. It relies on their being the first, third and fourth fields
-- (a test in record.rs keeps them there).
local function head_fields(head)
  if not head then return nil end
  local a = find(head, '|', 1, true)
  local b = a and find(head, '|', a + 1, true)
  local c = b and find(head, '|', b + 1, true)
  local d = c and find(head, '|', c + 1, true)
  if not d then return nil end
  local status = sub(head, 1, a - 1)
  return STATUS.word[status] or status, sub(head, b + 1, c - 1), sub(head, c + 1, d - 1), sub(head, 1, d)
end

-- A lease entry: its fields (L_*, LEASE_FIELDS of them: token, attempt,
-- worker (hex), lease ms, claimed at, lease until, progress, message
-- (hex), cancel requested ('1' or ''), kind) are defined in record.rs.
local function parse_lease(text)
  return fields_of(text, LEASE, LEASE_FIELDS)
end
local function lease_text(l)
  return table.concat(l, '|', 1, LEASE_FIELDS)
end

-- The header as a reader must see it: running under the lease, if any.
local function merge(cur, l)
  if l then
    cur[F_STATUS], cur[F_TOKEN], cur[F_ATTEMPT], cur[F_ERROR] = 'running', l[L_TOKEN], l[L_ATTEMPT], ''
    cur[F_WORKER], cur[F_LEASE], cur[F_CLAIMED], cur[F_UNTIL] =
      l[L_WORKER], l[L_LEASE], l[L_CLAIMED], l[L_UNTIL]
    cur[F_PROGRESS], cur[F_MESSAGE], cur[F_CANCEL] = l[L_PROGRESS], l[L_MESSAGE], l[L_CANCEL]
  end
  return cur
end

-- A job's whole record (header, newline, body), or false when there is none.
local function record(key)
  local hash, id = records.hash_of(key)
  return redis_call('HGET', hash, id) or redis_call('GET', key)
end

-- Headers are short (the longest fields are the kind, at most 64 bytes, and
-- the ready key), so the first bytes of a record hold the header.
local HEAD_READ = 511

-- The header of a record (or of its start): the text before the first
-- newline, or false when there is none.
local function head_of(rec)
  local nl = rec and find(rec, '\n', 1, true)
  return nl and sub(rec, 1, nl - 1) or false
end

-- A job's stored header, or false when there is none, without reading its
-- body (which may be megabytes) into Lua. Expired or not (see `stored`).
-- Second, the start of the record read (header, newline, the body's first
-- bytes).
local function raw_head(key)
  local hash, id = records.hash_of(key)
  local start = redis_call('HGET', hash, id) or redis_call('GETRANGE', key, 0, HEAD_READ)
  if start == '' then return false end
  local head = head_of(start)
  if head then return head, start end
  -- A header longer than HEAD_READ cannot come from these scripts; read
  -- the whole record rather than guess.
  local rec = record(key)
  return head_of(rec), rec
end

-- The status of a stored header, and an ended job's expiry, without taking
-- the header apart.
local function status_and_expiry(head)
  local status = sub(head, 1, (find(head, '|', 1, true) or 1) - 1)
  status = STATUS.word[status] or status
  if not K_ENDED[status] then return status, nil end
  return status, tonumber(string.match(head, '|(%d+)$'))
end

-- The fields of a job's stored header, or nil when there is none or it is
-- an ended job past its expiry (its last field). Second, the start of its
-- record (see `raw_head`).
local function stored(key)
  local head, start = raw_head(key)
  local cur = parse(head)
  if cur and K_ENDED[cur[F_STATUS]] and (tonumber(cur[F_RK]) or math.huge) <= server_now() then
    return nil
  end
  return cur, start
end

-- The list score (text) in the header of the job `id`'s record, or nil,
-- read from the record's start alone: no header taken apart, no lease.
function ready.list_score_of(id)
  if not ready.ls_pattern then
    ready.ls_pattern = '^' .. string.rep('[^|]*|', F_LS - 1) .. '(%d+)|'
  end
  return match(records.start(id), ready.ls_pattern)
end

-- A job's current header, or nil when there is no job.
local function load(id, key)
  local cur = stored(key)
  if cur then merge(cur, parse_lease(redis_call('HGET', K_LEASES, id))) end
  return cur
end

-- A job as readers get it: the header they see (with the job's key last:
-- bodies leave out the queue and id it names), a newline, the body.
local function view(key, cur)
  local out = {}
  for i = 1, FIELDS do out[i] = cur[i] or '' end
  out[F_KEY] = key
  local rec = record(key) or '\n'
  return table.concat(out, '|') .. sub(rec, find(rec, '\n', 1, true) or #rec + 1)
end

-- Stores a job: its header (see `records.head`) and body, packed or in a
-- key of its own (see `records`). An ended job expires at `expires_at`;
-- any other is kept until it ends (a SET without PXAT also drops the
-- expiry of a job that is alive again).
local function store(key, head, body, expires_at)
  local rec = head .. '\n' .. body
  local hash, id = records.hash_of(key)
  if records.packs(rec, expires_at) then
    redis_call('HSET', hash, id, rec)
    redis_call('DEL', key)
    return
  end
  if expires_at then
    redis_call('SET', key, rec, 'PXAT', expires_at)
  else
    redis_call('SET', key, rec)
  end
  redis_call('HDEL', hash, id)
end
-- Stores the new job `id`'s record as `store` does, unless the job has
-- one (packed or not); whether it stored it, and whether as a key of its
-- own. `no_keys`: the caller knows the job has no key of its own (see
-- insert.lua), which spares a look.
function records.add(key, id, rec, expires_at, no_keys)
  local hash = records.hash(id)
  if records.packs(rec, expires_at) then
    return (no_keys or redis_call('EXISTS', key) == 0) and redis_call('HSETNX', hash, id, rec) == 1, false
  end
  if redis_call('HEXISTS', hash, id) == 1 then return false, true end
  if expires_at then return redis_call('SET', key, rec, 'NX', 'PXAT', expires_at) ~= false, true end
  return redis_call('SET', key, rec, 'NX') ~= false, true
end

-- A stored header: the stored fields in order (`header`, generated in
-- the prelude), the status as its letter, and a waiting job's ready key
-- left out when it is the plain one (`plain`, see `ready.is_plain`), which
-- its list score and sequence give (`parse` puts it back): with both, a
-- waiting no-op job's record fits a packed field (see `records`).
function records.head(status, token, attempt, kind, error_kind, seq, ls, rk, plain)
  if plain and rk and not K_ENDED[status] then rk = '' end
  return header(STATUS.code[status] or status, token, attempt, kind, error_kind, seq, ls, rk)
end

-- Events of one script call go out as one stream entry (field `e`), one
-- line each: job|kind|status|attempt|progress|error kind|time|note, the
-- note being the message and any progress detail in hex (`note_hex` in
-- reply.rs), carried here unread.
-- A line that is only a job id has every other field of the line before
-- it: a batch of jobs moving alike (a claim, an enqueue, a completion call)
-- costs a script no new string per job, where a full line cost one string
-- and its bytes twice (made, then joined).
local function emit(id, kind, status, attempt, progress, message_hex, error_kind, at)
  progress, error_kind, message_hex = progress or '', error_kind or '', message_hex or ''
  -- Comparing interned strings compares pointers: no string is made here.
  local b = line_before
  if #events > 0 and b[1] == kind and b[2] == status and b[3] == attempt and
    b[4] == progress and b[5] == error_kind and b[6] == at and b[7] == message_hex then
    events[#events + 1] = id
    return
  end
  line_before = { kind, status, attempt, progress, error_kind, at, message_hex }
  -- One concatenation, one string: every table or string a script makes
  -- costs more than the work it holds.
  events[#events + 1] = id .. '|' .. kind .. '|' .. status .. '|' .. attempt .. '|' ..
    progress .. '|' .. error_kind .. '|' .. at .. '|' .. message_hex
end
local function publish()
  if #events > 0 then
    -- One piece goes as it is: joining would copy it into a new string.
    local entry = #events == 1 and events[1] or table.concat(events, '\n')
    -- The cap counts events, not entries: the stream keeps about as many
    -- entries as it would hold entries of this call's size. A cap of
    -- entries alone let batches of 500 keep 500 times the events.
    local entries = MAXLEN
    if #events > 1 then entries = math.max(1, math.floor(tonumber(MAXLEN) / #events)) end
    redis_call('XADD', K_EVENTS, 'MAXLEN', '~', entries, '*', 'e', entry)
    events = {}
  end
  if audit_text then
    -- Trimmed by maintenance (audit.rs), not here: no cap to pass.
    redis_call('XADD', K_AUDIT, '*', 'a', audit_text)
    audit_text = nil
  end
end

-- The audit log (crate::audit, audit.rs). `text` holds one line per job
-- of the call, in order, each ending in a newline (empty for a change the
-- log does not keep), or is empty when none has one; `out[i]` is 1 where
-- the call changed job i. The lines of the changed jobs are kept for
-- `publish`: when every job changed, the text goes as it came, with no
-- string made per job. A line that is not whole repeats the line before
-- it, its reference (audit.rs, Repeats): it is the job id alone (the
-- reference's text after its id, all of it), or `<id> <n> <tail>` (its
-- first n bytes, then the tail); a whole line starts with `{"j":"` and
-- the id. A repeat kept whose reference is left out is written whole.
local function keep_audit(text, out)
  if text == '' then return end
  local all = true
  for i = 1, #out do
    if out[i] ~= 1 then
      all = false
      break
    end
  end
  if all then
    audit_text = text
    return
  end
  -- `ref`: the text after the id of the line before; `ref_kept`: that of
  -- the last line kept. Strings are interned: comparing them compares
  -- pointers.
  local kept, i, ref, ref_kept = {}, 0, nil, nil
  for line in string.gmatch(text, '([^\n]*)\n') do
    i = i + 1
    if line ~= '' then
      -- A repeat's id; the line's text after its id (nil when unknown).
      local id, rest
      if byte(line, 1) == 123 then -- '{'
        local close = sub(line, 1, 6) == '{"j":"' and find(line, '"', 7, true)
        rest = close and sub(line, close) or nil
      elseif ref then
        local shared, tail
        id, shared, tail = match(line, '^([^ ]*) (%d+) (.*)$')
        if id then rest = sub(ref, 1, tonumber(shared)) .. tail else id, rest = line, ref end
      end
      if out[i] == 1 then
        if id and ref ~= ref_kept then line = '{"j":"' .. id .. rest end
        kept[#kept + 1] = line
        ref_kept = rest
      end
      ref = rest
    end
  end
  if #kept > 0 then audit_text = table.concat(kept, '\n') end
end

-- Quotas. A waiting job's body begins with the size of its payload,
-- `{"pl":<bytes>,` (body.rs); K_BYTES holds the sum of those sizes over
-- the queue's waiting (queued or scheduled, not running) jobs. Every call
-- that makes a job waiting adds its size (insert, apply), and every call
-- that ends its waiting takes off the size in the record it ends (claim,
-- apply, purge): through `bytes_delta`, written by `flush`. The waiting jobs
-- themselves are counted by the sizes of the `ready` and `scheduled` sets.
-- The numbers of the size texts met so far: converting a text costs a
-- claim more than finding it (glibc's strtod), and sizes repeat. Bounded.
local size_numbers, sizes_known = {}, 0
local function size_number(digits)
  local n = size_numbers[digits]
  if not n then
    if sizes_known >= 10000 then size_numbers, sizes_known = {}, 0 end
    n = tonumber(digits)
    size_numbers[digits], sizes_known = n, sizes_known + 1
  end
  return n
end
-- The size a body (at `at` in `text`) begins with, or 0.
local function body_payload_bytes(text, at)
  local digits = match(text, '^{"pl":(%d+)', at)
  return digits and size_number(digits) or 0
end
-- The size in a record, or in the start of one (see `raw_head`), or 0.
local function record_payload_bytes(rec)
  local nl = rec and find(rec, '\n', 1, true)
  return nl and body_payload_bytes(rec, nl + 1) or 0
end
local function waiting_status(status)
  return status == 'queued' or status == 'scheduled' or status == 'waiting'
end

-- Whether `n` more jobs with `total` payload bytes in all fit the queue's
-- waiting quotas (`max_jobs`, `max_bytes`; nil for no limit). Near a
-- limit the jobs are looked at one by one, leaving out repeats and ids
-- already stored and not reusable (their enqueue returns the stored job):
-- `job_at(i)` gives the i-th job's id, key and payload bytes. Returns nil
-- when they fit, else {0, i, quota, current, adding, limit} for the first
-- job that does not; without `job_at`, 2 when they may not fit. A queue
-- with no waiting job holds no payload, whatever K_BYTES says (see mod.rs
-- on drift); with `writable`, K_BYTES is set right then.
local function over_quota(max_jobs, max_bytes, n, total, writable, job_at)
  local waiting = ready_count() + redis_call('ZCARD', K_SCHED) +
    redis_call('HLEN', K_PENDING) + grouped_ready()
  local bytes = tonumber(redis_call('GET', K_BYTES)) or 0
  if waiting == 0 and bytes ~= 0 then
    if writable then redis_call('DEL', K_BYTES) end
    bytes = 0
  end
  if bytes < 0 then bytes = 0 end
  if (not max_jobs or waiting + n <= max_jobs) and (not max_bytes or bytes + total <= max_bytes) then
    return nil
  end
  if not job_at then return 2 end
  local seen = {}
  for i = 1, n do
    local id, key, size = job_at(i)
    local new = not seen[id]
    seen[id] = true
    if new then
      local old = load(id, key)
      new = not old or old[F_STATUS] == 'failed' or old[F_STATUS] == 'cancelled'
    end
    if new then
      if max_jobs and waiting + 1 > max_jobs then
        return { 0, i, 'waiting_jobs', waiting, 1, max_jobs }
      end
      if max_bytes and bytes + size > max_bytes then
        return { 0, i, 'waiting_payload_bytes', bytes, size, max_bytes }
      end
      waiting, bytes = waiting + 1, bytes + size
    end
  end
  return nil
end

-- Tells blocked workers that jobs became ready in this queue.
local function wake()
  redis_call('XADD', K_WAKE, 'MAXLEN', '~', 100, '*', 'w', '1')
end

-- Limits (limits.lua). K_LIMITS, when the queue has limits, is a hash:
-- `max_running` (jobs running at once: entries of K_LEASES), `rate` and
-- `per` (claims per period in ms), and the rate window: `start` (ms of
-- the server's clock, 0 before the first claim) and `claims` in it.
-- Windows lie end to end (see limits.rs, `rate_window`: the same rule).
-- How many of `max` jobs the limits let a claim take now, and the rate
-- window as it stands now (start, claims; nil without a rate).
local function limit_room(max)
  local l = redis_call('HMGET', K_LIMITS, 'max_running', 'rate', 'per', 'start', 'claims')
  local max_running, rate, per = tonumber(l[1]), tonumber(l[2]), tonumber(l[3])
  if max_running then
    max = math.min(max, max_running - redis_call('HLEN', K_LEASES))
  end
  if not (rate and per) then return math.max(max, 0) end
  local now = server_now()
  local start, claims = tonumber(l[4]) or 0, tonumber(l[5]) or 0
  if start <= 0 then
    start, claims = now, 0
  elseif now >= start + per then
    start, claims = now - (now - start) % per, 0
  end
  return math.max(math.min(max, rate - claims), 0), start, claims
end

-- Wakes waiting workers when a running job of a queue that limits its
-- running jobs (or its groups') ended: a claim may take the next one now.
local function wake_if_limited()
  local l = redis_call('HMGET', K_LIMITS, 'max_running', 'per_group')
  if l[1] or l[2] then wake() end
end

-- The job that holds a unique key, from the key's entry in K_UNIQUE
-- (`id|unique until`, '' for no window): its id and header when it still
-- holds it (it waits or runs, or its window has not passed; see
-- `state::holds_unique_key`), else nil.
local function unique_holder(entry, now)
  if not entry then return nil end
  local id, until_ms = match(entry, '^([^|]*)|(.*)$')
  if not id then return nil end
  local key = PREFIX .. id
  local cur = load(id, key)
  if not cur then return nil end
  local status = cur[F_STATUS]
  if status == 'queued' or status == 'scheduled' or status == 'running' or status == 'waiting'
    or (until_ms ~= '' and tonumber(until_ms) > tonumber(now)) then
    return id, key, cur
  end
  return nil
end

-- Dependencies. A job that waits for parents (status `waiting`) has an
-- entry in its queue's K_PENDING: id -> the ids of the parents it still
-- waits for, space-separated (ids hold no space). A parent that some job
-- waits for has an entry in its own queue's K_DEPS (id -> '1') and a set
-- of its dependants, `<K_DEPS>:<id>`, of `<queue>/<id>` members: a
-- dependant may live in another queue, which no call of this queue may
-- touch. When the parent ends, the call that ends it moves its K_DEPS
-- entry to K_OUTBOX (id -> `<status>|<server ms>`), in the same call;
-- maintenance then delivers the end to each dependant with a guarded
-- call on the dependant's queue (settle.lua) and empties the set. So
-- every end reaches its dependants, whatever queue they are in, and the
-- end itself costs a queue with no dependants one EXISTS per call.

-- Records that `id`, which just ended as `status` (or was purged:
-- 'gone'), has dependants to tell, if it has any.
local function parent_ended(id, status)
  if deps_exist == nil then deps_exist = redis_call('EXISTS', K_DEPS) == 1 end
  if not deps_exist then return end
  if redis_call('HDEL', K_DEPS, id) == 1 then
    redis_call('HSET', K_OUTBOX, id, status .. '|' .. int(server_now()))
    deps_moved = true
  end
end

-- A reply of one element per job, with one more (2) when the call moved
-- parents to the outbox: the caller delivers their ends at once rather
-- than at the next maintenance pass.
local function with_deliveries(out, n)
  if deps_moved then out[n + 1] = 2 end
  return out
end
