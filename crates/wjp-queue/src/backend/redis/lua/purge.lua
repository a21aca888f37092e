-- Deletes up to `limit` jobs of one queue in one waiting or ended status.
-- ARGV[3]: status, [4]: limit. Returns {deleted, index entries looked at}.
local status, limit = ARGV[3], tonumber(ARGV[4])
local members
-- Queued jobs of fairness groups: member -> group.
local in_group = {}
-- Plain queued jobs leave their index at once (`ready_take`): one at a
-- time, a job in the middle of the ready list would cost a read of it.
if status == 'queued' then
  members = ready_take(limit)
  grouped_members(limit - #members, members, in_group)
elseif status == 'scheduled' then
  members = redis_call('ZRANGE', K_SCHED, 0, limit - 1)
elseif K_ENDED[status] then
  members = redis_call('ZRANGE', K_ENDED[status], 0, limit - 1)
else
  return redis.error_reply('only waiting or ended jobs can be purged')
end
local deleted = 0
for _, member in ipairs(members) do
  local id = member
  if status == 'queued' then id = ready.id_of(member) end
  local key = PREFIX .. id
  local cur, start = stored(key)
  if cur and cur[F_STATUS] == status then
    if waiting_status(status) then bytes_delta = bytes_delta - record_payload_bytes(start) end
    -- A plain queued job left its index above (no ready key: nothing to
    -- take out again), unless the record names another member of it (a
    -- list's entry, the id alone, is the one its record names).
    local rk = cur[F_RK]
    if status == 'queued' and not in_group[member] and
        (member == id or member == rk .. '|' .. id) then
      rk = nil
    end
    unindex(id, status, rk, in_group[member])
    zrem(K_ALL, id)
    records.delete(key)
    if waiting_status(status) then parent_ended(id, 'gone') end
    deleted = deleted + 1
  end
  -- Stale entries (the job moved on, or its record expired) go as well.
  if in_group[member] then
    group_unindex(in_group[member], member)
  elseif status ~= 'queued' then
    zrem(K_ENDED[status] or K_SCHED, id)
  end
end
flush()
return { deleted, #members }
