--[[
  What an attempt needs to know, and what shows a loss of Redis data, in one command
  (daemon/agent/attempt-plan.ts, readBeforeAttempt). Writes nothing. It was a MULTI
  block of 9 to 11 commands; the key-type checks that made the block tolerate a
  command's error are done here instead, so the attempt costs one command to read.

  KEYS[1] credential hash         <prefix>:{project}:credential
  KEYS[2] project status hash     <prefix>:{project}:status
  KEYS[3] node record hash        <prefix>:{project}:node:<id>
  KEYS[4] recorded attempt ids    <prefix>:{project}:node:<id>:attempts (zset id -> ms)
  KEYS[5] project's nodes         <prefix>:{project}:nodes (zset id -> first seen ms)

  ARGV[1..] the attempt id under each of its names (daemon/agent/schedule.ts,
            attemptIdAliases)

  Returns { credential, status, time, nodeExists, attemptIdsExist, membersOk, members,
  recorded }: credential and status as flat field-value lists (HGETALL), time as TIME's
  { seconds, microseconds }, nodeExists and attemptIdsExist 1 or 0 (EXISTS), membersOk 1
  when the nodes key is a zset or missing and 0 when it holds another type (SPEC §4:
  the recording finds and reports that; the attempt goes on), members the nodes zset
  WITHSCORES ({} when not ok), recorded 1 when the attempt-id zset (of its type) holds
  one of the names. A credential or status of the wrong type fails the call (HGETALL's
  WRONGTYPE), and the attempt is planned from the local state.
]]
local credentialKey, statusKey, nodeKey, attemptsKey, nodesKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]

local function usable(key, kind)
  local found = redis.call('TYPE', key).ok
  return found == 'none' or found == kind
end

local credential = redis.call('HGETALL', credentialKey)
local status = redis.call('HGETALL', statusKey)
local time = redis.call('TIME')
local nodeExists = redis.call('EXISTS', nodeKey)
local attemptIdsExist = redis.call('EXISTS', attemptsKey)

local membersOk, members = 0, {}
if usable(nodesKey, 'zset') then
  membersOk = 1
  members = redis.call('ZRANGE', nodesKey, 0, -1, 'WITHSCORES')
end

local recorded = 0
if attemptIdsExist == 1 and usable(attemptsKey, 'zset') then
  for _, id in ipairs(ARGV) do
    if redis.call('ZSCORE', attemptsKey, id) then recorded = 1 end
  end
end

return { credential, status, time, nodeExists, attemptIdsExist, membersOk, members, recorded }
