--[[
  Repairs a node record whose numbers do not parse (a field edited by hand, a bad
  write from elsewhere), so that record-attempt-7.lua can apply attempts to it again.
  A broken field takes the value the node holds for it, or is dropped when the node
  does not know it either (its default applies: nothing unknown adds to a streak).
  Only broken fields are written; a record that parses is left alone.

  KEYS[1] node record hash        <prefix>:{project}:node:<id>

  ARGV[1] the node's record as the node last saw it (JSON object), '' if none

  Returns the record as it was before the repair (HGETALL), for the node to count as a
  corrupt record; empty when nothing was broken.
]]
local broken = {}
-- The numeric fields record-attempt-7.lua does arithmetic on: the same list as there.
for _, field in ipairs({ 'lastAttemptAt', 'lastSuccessAt', 'consecutiveFailures', 'attemptsTotal', 'failuresTotal', 'generation' }) do
  local value = redis.call('HGET', KEYS[1], field)
  if value and tonumber(value) == nil then table.insert(broken, field) end
end
if #broken == 0 then return {} end
local before = redis.call('HGETALL', KEYS[1])
local held = nil
if ARGV[1] ~= '' then
  local okHeld, decoded = pcall(cjson.decode, ARGV[1])
  if okHeld and type(decoded) == 'table' then held = decoded end
end
for _, field in ipairs(broken) do
  local known = held and held[field]
  if type(known) == 'number' then known = string.format('%.0f', known) end
  if type(known) == 'string' and tonumber(known) ~= nil then
    redis.call('HSET', KEYS[1], field, known)
  else
    redis.call('HDEL', KEYS[1], field)
  end
end
return before
