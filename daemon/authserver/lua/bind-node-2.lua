--[[
  Check-and-bind of one node against its account's capacity (SPEC R10). One script,
  so concurrent authentications of many nodes never bind more nodes than the
  capacity: Redis runs it without interleaving.

  KEYS[1]  account hash   <prefix>:authserver:{<account>}:account (field `capacity`)
  KEYS[2]  bindings hash  <prefix>:authserver:{<account>}:bindings, nodeKey -> JSON
           {nodeId, project, boundAt, lastSuccessAt} (times: ms since the epoch, as text)
  ARGV[1]  nodeKey (project + node id)
  ARGV[2]  node id
  ARGV[3]  project
  ARGV[4]  now, ms since the epoch, from the server's injected clock (not Redis TIME:
           tests and the admin clock offset move it)
  ARGV[5]  release window, ms: a binding with no success for this long is free
  ARGV[6]  'bind' to write; 'check' to answer only whether the node would pass
           (used when a write fault is injected: the capacity check still runs first)

  Returns {status, bound}
    status 0 passed (bound now, or already bound and refreshed)
           1 capacity reached (30007)
           2 the account no longer exists
    bound  live bindings of the account after this call
]]
local now = tonumber(ARGV[4])
local releaseAfter = tonumber(ARGV[5])
local write = ARGV[6] == 'bind'

local capacity = tonumber(redis.call('HGET', KEYS[1], 'capacity'))
if capacity == nil then
  return {2, 0}
end

local live = 0
local mine = nil
local entries = redis.call('HGETALL', KEYS[2])
for i = 1, #entries, 2 do
  local key = entries[i]
  local decoded, binding = pcall(cjson.decode, entries[i + 1])
  local last = nil
  if decoded and type(binding) == 'table' then
    last = tonumber(binding.lastSuccessAt)
  end
  -- An expired binding frees its slot; so does one that cannot be read, since a
  -- record nobody can interpret must not lock a customer out.
  if last == nil or last + releaseAfter <= now then
    if write then
      redis.call('HDEL', KEYS[2], key)
    end
  else
    live = live + 1
    if key == ARGV[1] then
      mine = binding
    end
  end
end

if mine ~= nil then
  if write then
    mine.lastSuccessAt = ARGV[4]
    redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(mine))
  end
  return {0, live}
end

if live >= capacity then
  return {1, live}
end

if write then
  redis.call('HSET', KEYS[2], ARGV[1], cjson.encode({
    nodeId = ARGV[2], project = ARGV[3], boundAt = ARGV[4], lastSuccessAt = ARGV[4]
  }))
end
return {0, live + 1}
