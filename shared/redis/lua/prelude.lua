-- The prelude of every script (shared/redis/lua-script.ts puts it before the script's
-- own text): the few rules every script must apply the same way, written once.

-- A reply of TIME ({seconds, microseconds}) in ms. Only a script that needs the raw
-- parts of the same reading calls TIME itself and this; every other one redisNowMs.
local function timeMs(t)
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Redis TIME in ms (R8: times recorded in Redis come from Redis).
local function redisNowMs()
  return timeMs(redis.call('TIME'))
end

-- The role of the first key that holds a value of another type than it must (SPEC §4),
-- or nil: `checks` lists { key, role, type } ('hash', 'zset', 'set', 'list', 'string');
-- a missing key ('none') is of every type. A script calls it before its first write
-- and answers a damaged key with damagedReply.
local function firstDamaged(checks)
  for _, c in ipairs(checks) do
    local kind = redis.call('TYPE', c[1]).ok
    if kind ~= 'none' and kind ~= c[3] then return c[2] end
  end
  return nil
end

-- The one reply of every script that found a damaged key (nothing written): {'damaged',
-- <role>}, which every wrapper decodes with damagedRole (shared/redis/damaged-key-error.ts).
local function damagedReply(role)
  return { 'damaged', role }
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
