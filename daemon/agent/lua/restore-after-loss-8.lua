--[[
  Puts back what a node holds after Redis lost its data (restart without persistence,
  FLUSHALL): the project's credential as the node last read it (still encrypted), the
  node's own latest record, and the last `failed` verdict it saw (R5: failed is sticky
  across a loss of Redis data; only `register` clears it). Only what is missing is
  written, so a live project is never overwritten, and several nodes restoring at
  once agree. The restoration is noted in the recovery hash, which `status` shows,
  because the failure history from before the loss cannot come back.

  KEYS[1] credential (hash)       KEYS[2] node record (hash)
  KEYS[3] project's nodes (zset)  KEYS[4] recovery (hash)
  KEYS[5] node's recorded attempt ids (zset)
  KEYS[6] removed nodes (set): a node unbound on purpose is not put back
  KEYS[7] project status (hash)
  KEYS[8] events channel

  It runs as a step of its own, before recording, whenever the node sees the loss:
  Redis answers again, the read before an attempt finds missing what the node holds,
  or record-attempt-7.lua refuses an attempt because the node's record is gone.

  ARGV[1] node id
  ARGV[2] credential as JSON object of fields, '' when the node holds none
  ARGV[3] node record as JSON object of fields, '' when the node holds none
  ARGV[4] the node's first-seen score for the nodes set
  ARGV[5] the ids and times of the results the record holds (JSON array of [id, ms]),
          put back with it so that re-recording them counts nothing twice; put back
          too, up to the record's lastAttemptAt, when the record is there but its id
          set is gone (deleted on its own: the replay at the next reconnect would count
          the newest results again)
  ARGV[6] the failed verdict the node holds, '' when none: JSON object of strings
          {since, epoch, failedAt, generation, registeredAt, registration}. Put back
          when the stored credential is of the registration it was about (the same
          identity; a verdict held by 0.2.0: the same generation and registeredAt) and
          the stored status is not `failed`. Within one registration `failed` is
          sticky, so a status about that credential that is not `failed` can only be
          what is left after a loss (or what a leader computed from a half-restored
          project): it is never newer than the verdict. A `register` changes the
          credential, so a verdict it cleared is never put back.
  ARGV[7] the project's members as the node last saw them (JSON array of [id, first-seen
          ms]), '' when it holds none: a member whose sidecar is down during the loss is
          put back too, so the policy still counts it (an unknown member, R5) instead of
          failing the project on the members that happen to be up. A member unbound on
          purpose (in KEYS[6]) is not.

  Credential order (R5, R9): a credential is put back where none is stored, and over a
  stored one that is older — of another registration made earlier (what a node that
  was down during a re-registration restores if it starts first), or of the same
  registration with an older ciphertext revision (what a node that was down during a
  `crypto switch` restores). A generation number never decides: an emptied Redis
  numbers them from 1 again. Then a status about another registration than the stored
  credential's is dropped: a verdict applies only to its own registration. A held
  credential never replaces a newer one.

  A credential is not put back where none is stored when the status hash names a later
  registration than the held one (register ran, then the credential key was deleted on
  its own): the reply then includes 'superseded', and the project waits for `register`.

  Numbers the node holds that are not integers (the prelude's isInteger) are not put
  back: record-attempt-7.lua would refuse the record they made.

  Every key is checked for its type before the first write (nothing is written
  halfway, SPEC §4).

  Returns a list of what was restored ('credential', 'node', 'attempt-ids', 'status',
  'members', and 'superseded' as above), empty when nothing was missing; or {'damaged',
  <role>} (the prelude's damagedReply; nothing written) when a key holds a value of the
  wrong type: 'credential', 'node', 'nodes', 'recovery', 'attempts', 'removed' or
  'status'.
]]
local damaged = firstDamaged({ { KEYS[1], 'credential', 'hash' }, { KEYS[2], 'node', 'hash' }, { KEYS[3], 'nodes', 'zset' },
  { KEYS[4], 'recovery', 'hash' }, { KEYS[5], 'attempts', 'zset' }, { KEYS[6], 'removed', 'set' }, { KEYS[7], 'status', 'hash' } })
if damaged then return damagedReply(damaged) end

local function text(value)
  if value == nil or value == cjson.null then return nil end
  if type(value) == 'number' then return string.format('%.0f', value) end
  return tostring(value)
end
-- Identity and order of a credential, stored or held (fields as strings).
local function identity(fields)
  local registeredAt = integerOr(fields.registeredAt, nil)
  return {
    registration = registrationOf(fields.registration, fields.generation),
    registeredAt = registeredAt,
    revisedAt = integerOr(fields.revisedAt, registeredAt or 0),
    generation = integerOr(fields.generation, 0),
  }
end
local function newer(held, stored)
  if held.registration ~= stored.registration then
    if held.registeredAt and stored.registeredAt then return held.registeredAt > stored.registeredAt end
    return held.generation > stored.generation
  end
  return held.revisedAt > stored.revisedAt
end

local restored = {}
if ARGV[2] ~= '' then
  local heldFields = {}
  for field, value in pairs(cjson.decode(ARGV[2])) do heldFields[field] = text(value) end
  local stored = redis.call('HMGET', KEYS[1], 'registration', 'generation', 'registeredAt', 'revisedAt')
  local storedId = identity({ registration = stored[1], generation = stored[2], registeredAt = stored[3], revisedAt = stored[4] })
  local heldId = identity(heldFields)
  local missing = redis.call('EXISTS', KEYS[1]) == 0
  local storedOlder = not missing and newer(heldId, storedId)
  -- A credential deleted on its own while the status names a later registration than
  -- the held one: that registration is what Redis last had, and the held credential
  -- is older. It is not put back (the project waits for `register`), and said so.
  local superseded = false
  if missing then
    local status = redis.call('HMGET', KEYS[7], 'registration', 'since')
    local since = integerOr(status[2], nil)
    superseded = status[1] ~= nil and status[1] ~= heldId.registration and since ~= nil and heldId.registeredAt ~= nil and since > heldId.registeredAt
  end
  if superseded then
    table.insert(restored, 'superseded')
  elseif missing or storedOlder then
    redis.call('DEL', KEYS[1])
    for field, value in pairs(heldFields) do
      if value ~= '' then redis.call('HSET', KEYS[1], field, value) end
    end
    redis.call('HSET', KEYS[1], 'registration', heldId.registration)
    table.insert(restored, 'credential')
    local status = redis.call('HMGET', KEYS[7], 'registration', 'generation')
    if storedOlder and (status[1] or status[2]) and registrationOf(status[1], status[2]) ~= heldId.registration then
      redis.call('DEL', KEYS[7])
    end
  end
end
local numbers = { lastAttemptAt = true, lastSuccessAt = true, consecutiveFailures = true, attemptsTotal = true, failuresTotal = true,
  generation = true, licenseExpiresAt = true, licenseCapacity = true, licenseBound = true }
local function putIds(upTo)
  if ARGV[5] == '' then return end
  for _, pair in ipairs(cjson.decode(ARGV[5])) do
    local at = tonumber(pair[2])
    if at and (upTo == nil or at <= upTo) then redis.call('ZADD', KEYS[5], 'NX', at, pair[1]) end
  end
end
if ARGV[3] ~= '' and redis.call('EXISTS', KEYS[2]) == 0 and redis.call('SISMEMBER', KEYS[6], ARGV[1]) == 0 then
  for field, value in pairs(cjson.decode(ARGV[3])) do
    local v = text(value)
    if v ~= nil and (not numbers[field] or isInteger(v)) then redis.call('HSET', KEYS[2], field, v) end
  end
  -- The ids beside the record are exactly those it reflects: ids left by the record that
  -- was lost would make results it did not count look recorded.
  redis.call('DEL', KEYS[5])
  putIds(nil)
  redis.call('ZADD', KEYS[3], 'NX', tonumber(ARGV[4]), ARGV[1])
  table.insert(restored, 'node')
elseif ARGV[5] ~= '' and redis.call('EXISTS', KEYS[5]) == 0 and redis.call('EXISTS', KEYS[2]) == 1 then
  -- Up to the record's last attempt (a record rolled back by a fail-over keeps the newer
  -- results out, to be recorded again); every held id when that time is itself damaged.
  putIds(integerOr(redis.call('HGET', KEYS[2], 'lastAttemptAt'), nil))
  if redis.call('EXISTS', KEYS[5]) == 1 then table.insert(restored, 'attempt-ids') end
end
if ARGV[7] ~= '' then
  local added = 0
  for _, pair in ipairs(cjson.decode(ARGV[7])) do
    if redis.call('SISMEMBER', KEYS[6], pair[1]) == 0 then
      added = added + redis.call('ZADD', KEYS[3], 'NX', tonumber(pair[2]), pair[1])
    end
  end
  if added > 0 then table.insert(restored, 'members') end
end
if ARGV[6] ~= '' then
  local verdict = cjson.decode(ARGV[6])
  local credential = redis.call('HMGET', KEYS[1], 'registration', 'generation', 'registeredAt')
  local about = registrationOf(text(verdict.registration), text(verdict.generation))
  local sameRegistration = credential[2] ~= nil and registrationOf(credential[1], credential[2]) == about
  -- A verdict held by 0.2.0 names its registration by generation and time together.
  if sameRegistration and (verdict.registration == nil or verdict.registration == '') then
    sameRegistration = (credential[3] or '') == text(verdict.registeredAt)
  end
  if sameRegistration and redis.call('HGET', KEYS[7], 'status') ~= 'failed' then
    redis.call('DEL', KEYS[7])
    redis.call('HSET', KEYS[7], 'status', 'failed', 'since', text(verdict.since) or '', 'epoch', text(verdict.epoch) or '',
      'failedAt', text(verdict.failedAt) or '', 'generation', text(verdict.generation) or '', 'registration', about)
    table.insert(restored, 'status')
  end
end
if #restored > 0 then
  redis.call('HSETNX', KEYS[4], 'at', redisNowMs())
  redis.call('HSET', KEYS[4], 'node:' .. ARGV[1], table.concat(restored, ','))
  redis.call('PUBLISH', KEYS[8], cjson.encode({ type = 'restored', node = ARGV[1], restored = restored }))
end
return restored
