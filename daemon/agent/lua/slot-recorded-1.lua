--[[
  Was a slot's attempt recorded, under any of its names? The slot timer's one question
  to Redis at each slot (daemon/agent/agent.ts, onSlot), which is its health check too:
  one command where a MULTI of two ZSCOREs was four. Writes nothing.

  KEYS[1] recorded attempt ids    <prefix>:{project}:node:<id>:attempts (zset id -> ms)

  ARGV[1..] the attempt id under each of its names

  Returns 1 when one of the names is recorded, and 1 when the key holds another type
  than a zset (SPEC §4: the slot is then left to BullMQ, whose recording reports the
  damaged key); 0 otherwise.
]]
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'none' then return 0 end
if kind ~= 'zset' then return 1 end
for _, id in ipairs(ARGV) do
  if redis.call('ZSCORE', KEYS[1], id) then return 1 end
end
return 0
