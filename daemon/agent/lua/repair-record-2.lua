--[[
  Repairs a node record whose numbers or reasons do not parse (a field edited by hand,
  a bad write from elsewhere), so that record-attempt-7.lua can apply attempts to it
  again. A number counts only when it is an integer as HINCRBY takes it ('2.0' and
  '1e3' are not: the prelude's isInteger). A broken field takes the value the node
  holds for it when that value is sound, or is dropped when the node does not know it
  either (its default applies: nothing unknown adds to a streak). Only broken fields
  are written; a record that parses is left alone.

  KEYS[1] node record hash        <prefix>:{project}:node:<id>
  KEYS[2] failure history list    <prefix>:{project}:node:<id>:history (newest first)

  ARGV[1] the node's record as the node last saw it (JSON object), '' if none

  Returns the record as it was before the repair (HGETALL), for the node to count as a
  corrupt record; empty when nothing was broken.
]]
local function text(value)
  if type(value) == 'number' then return string.format('%.0f', value) end
  return value
end

local function soundReason(value)
  if value == '' then return true end
  local okDecode, decoded = pcall(cjson.decode, value)
  return okDecode and type(decoded) == 'table' and type(decoded.name) == 'string' and type(decoded.at) == 'number'
end

local broken = {}
-- The fields record-attempt-7.lua checks: the same lists as there.
local numbers = { 'lastAttemptAt', 'lastSuccessAt', 'consecutiveFailures', 'attemptsTotal', 'failuresTotal', 'generation',
  'licenseExpiresAt', 'licenseCapacity', 'licenseBound' }
for _, field in ipairs(numbers) do
  local value = redis.call('HGET', KEYS[1], field)
  if value and not isInteger(value) then table.insert(broken, { field, isInteger }) end
end
for _, field in ipairs({ 'reason', 'latestReason' }) do
  local value = redis.call('HGET', KEYS[1], field)
  if value and not soundReason(value) then table.insert(broken, { field, soundReason }) end
end
if #broken == 0 then return {} end
local before = redis.call('HGETALL', KEYS[1])
local held = nil
if ARGV[1] ~= '' then
  local okHeld, decoded = pcall(cjson.decode, ARGV[1])
  if okHeld and type(decoded) == 'table' then held = decoded end
end
-- The held copy is of this record's last attempt, or older (a crash between the write
-- and the node's note of it). A streak is then read from the record where it tells: a
-- last attempt that was a success leaves none; otherwise the held streak (none when a
-- success came after the held copy) plus the failures the history holds since.
local current = held ~= nil and held.lastAttemptId == redis.call('HGET', KEYS[1], 'lastAttemptId')
local lastAttemptAt = integerOr(redis.call('HGET', KEYS[1], 'lastAttemptAt'), nil)
local lastSuccessAt = integerOr(redis.call('HGET', KEYS[1], 'lastSuccessAt'), nil)
local function streakSinceHeld()
  if lastAttemptAt and lastSuccessAt and lastSuccessAt >= lastAttemptAt then return '0' end
  local heldAt = held and integerOr(text(held.lastAttemptAt), nil)
  local heldStreak = held and integerOr(text(held.consecutiveFailures), nil)
  if not heldAt or not heldStreak then return nil end
  local fields = redis.call('HMGET', KEYS[1], 'registration', 'generation')
  local registration = registrationOf(fields[1], fields[2])
  local since, streak = heldAt, heldStreak
  -- The held copy is of another registration: the record's streak started afresh since.
  if registrationOf(held.registration, text(held.generation)) ~= registration then streak = 0 end
  if lastSuccessAt and lastSuccessAt > heldAt then since, streak = lastSuccessAt, 0 end
  if redis.call('TYPE', KEYS[2]).ok ~= 'list' then return tostring(streak) end
  for _, raw in ipairs(redis.call('LRANGE', KEYS[2], 0, 99)) do
    local okDecode, entry = pcall(cjson.decode, raw)
    if okDecode and type(entry) == 'table' and type(entry.at) == 'number' then
      if entry.at <= since then break end
      -- Only failures that counted in this registration's streak (entries of 0.2.0 carry neither field).
      local counted = entry.counted ~= false and (entry.registration == nil or entry.registration == registration)
      if counted and (lastAttemptAt == nil or entry.at <= lastAttemptAt) then streak = streak + 1 end
    end
  end
  return tostring(streak)
end
for _, entry in ipairs(broken) do
  local field, sound = entry[1], entry[2]
  local known = held and held[field]
  if field == 'consecutiveFailures' and not current then known = streakSinceHeld() or known end
  if type(known) == 'number' and known == math.floor(known) then known = string.format('%.0f', known) end
  if type(known) == 'string' and sound(known) then
    redis.call('HSET', KEYS[1], field, known)
  elseif field == 'reason' or field == 'latestReason' then
    redis.call('HSET', KEYS[1], field, '')
  else
    redis.call('HDEL', KEYS[1], field)
  end
end
return before
