-- The prelude of every script (shared/redis/lua-script.ts puts it before the script's
-- own text): the few rules every script must apply the same way, written once.

-- Redis TIME in ms (R8: times recorded in Redis come from Redis).
local function redisNowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A decimal integer as HINCRBY takes it: digits with an optional minus sign, at most 18
-- of them. Lua's tonumber also takes '2.0', '1e3', ' 7' and '0x10', which HINCRBY then
-- refuses after a script has already written part of its work: every number a script
-- does arithmetic on is checked with this before the first write.
local function isInteger(value)
  return type(value) == 'string' and #value <= 19 and string.match(value, '^%-?%d+$') ~= nil
end

-- The value as an integer, or `default` when it is absent or not an integer.
local function integerOr(value, default)
  if isInteger(value) then return tonumber(value) end
  return default
end

-- The identity of a registration (SPEC R5): the `registration` field where one is
-- written; a credential, record, status or verdict written before identities existed
-- (0.2.0) is known by its generation alone, as 'g<generation>'. No new registration
-- takes that form, so the two kinds never collide.
local function registrationOf(registration, generation)
  if registration and registration ~= '' then return registration end
  return 'g' .. tostring(generation or '0')
end

-- +1 on a counter field; a value that is not an integer (edited by another tool)
-- starts again at 1 instead of failing the script halfway.
local function incrementCounter(key, field)
  if isInteger(redis.call('HGET', key, field) or '0') then return redis.call('HINCRBY', key, field, 1) end
  redis.call('HSET', key, field, 1)
  return 1
end
