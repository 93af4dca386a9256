--[[
  Unbinds one node (SPEC R10): its slot is free at once. A binding already expired by
  the 24 h rule is not bound any more, so unbinding it answers "not bound" (20000).

  KEYS[1]  bindings hash  <prefix>:authserver:{<account>}:bindings, nodeKey -> JSON
  ARGV[1]  nodeKey (project + node id)
  ARGV[2]  now, ms since the epoch, from the server's injected clock
  ARGV[3]  release window, ms

  Returns {status, bound}
    status 0 unbound
           1 the node was not bound (20000)
    bound  live bindings of the account after this call
]]
local now = tonumber(ARGV[2])
local releaseAfter = tonumber(ARGV[3])

local found = false
local live = 0
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  local key = entries[i]
  local decoded, binding = pcall(cjson.decode, entries[i + 1])
  local last = nil
  if decoded and type(binding) == 'table' then
    last = tonumber(binding.lastSuccessAt)
  end
  if last == nil or last + releaseAfter <= now then
    redis.call('HDEL', KEYS[1], key)
  elseif key == ARGV[1] then
    redis.call('HDEL', KEYS[1], key)
    found = true
  else
    live = live + 1
  end
end

if found then
  return {0, live}
end
return {1, live}
