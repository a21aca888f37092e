-- Rewrites the two ready lists of one queue (KEYS[1], KEYS[2]) as layout
-- 7 keeps them: an entry `<ready key>|<id>`, as layouts 4 to 6 wrote it,
-- becomes the id alone (the ready key stays in the job's record:
-- common.lua, Ready jobs). ARGV[1]: the length of a ready key. Run when
-- this version marks the server as its layout (connection.rs,
-- `check_layout`), before any call of it reads the lists; a script of its
-- own, not a function of the library, which a lazy connection loads only
-- once the server is marked.
-- Each list is turned round on itself a chunk at a time (taken from its
-- head, pushed back at its tail, so its order stays), in this one call:
-- no other call sees a list half rewritten. An entry that is already an
-- id (ids hold no '|') stays as it is, so two processes that rewrite at
-- once do no harm.
-- Returns how many entries were rewritten.
local CHUNK_OF_LIST = 1000
local bar_at = tonumber(ARGV[1]) + 1
local rewritten = 0
for _, key in ipairs(KEYS) do
  local left = redis.call('LLEN', key)
  while left > 0 do
    local chunk = redis.call('LPOP', key, math.min(left, CHUNK_OF_LIST))
    for i, entry in ipairs(chunk) do
      if string.byte(entry, bar_at) == 124 then
        chunk[i] = string.sub(entry, bar_at + 1)
        rewritten = rewritten + 1
      end
    end
    redis.call('RPUSH', key, unpack(chunk))
    left = left - #chunk
  end
end
return rewritten
