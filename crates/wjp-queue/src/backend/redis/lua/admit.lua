-- Whether new jobs of one queue fit its waiting quotas, for a batch that
-- goes in several calls (jobs of several queues, or more than one call
-- takes): every queue is asked first, so a refusal leaves nothing written.
-- Reads only.
-- ARGV[3]: most waiting jobs, [4]: most waiting payload bytes ('' for no
-- limit), [5]: how many jobs, [6]: their payload bytes in all. Then, when
-- the caller sends them, per job (2 arguments from ARGV[7]): id, payload
-- bytes; KEYS[JOB_KEYS + i]: the job's key.
-- Returns 1 when they fit. Otherwise, without the jobs, 2: they may not
-- (the queue is near a limit), ask again with them; with the jobs, the
-- refusal (see `over_quota`).
local H, N = 6, 2
local job_at = false
if #ARGV > H then
  job_at = function(i)
    local b = H + (i - 1) * N
    return ARGV[b + 1], KEYS[JOB_KEYS + i], tonumber(ARGV[b + 2])
  end
end
local answer = over_quota(tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]),
  tonumber(ARGV[6]), false, job_at)
return answer or 1
