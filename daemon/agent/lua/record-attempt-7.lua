--[[
  Records one authentication attempt of a node, atomically and idempotently (SPEC R2-R4, R8).

  KEYS[1] node record hash        <prefix>:{project}:node:<id>
  KEYS[2] failure history list    <prefix>:{project}:node:<id>:history (newest first)
  KEYS[3] recorded attempt ids    <prefix>:{project}:node:<id>:attempts (zset id -> ms)
  KEYS[4] project's nodes         <prefix>:{project}:nodes (zset id -> first seen ms)
  KEYS[5] events channel          <prefix>:{project}:events
  KEYS[6] credential hash         <prefix>:{project}:credential (read: current registration)
  KEYS[7] removed nodes (set)     <prefix>:{project}:removed (unbound on purpose)

  ARGV[1]  node id
  ARGV[2]  attempt id (the idempotency key)
  ARGV[3]  '1' success, '0' failure
  ARGV[4]  reason code ('' for none, e.g. CONNECTION_FAILED)
  ARGV[5]  reason name
  ARGV[6]  reason message
  ARGV[7]  attempt time in ms, '' to take Redis TIME (journal replays pass the time
           estimated when the attempt was made)
  ARGV[8]  license expiry ms ('' if unknown)
  ARGV[9]  license capacity ('' if unknown)
  ARGV[10] license bound ('' if unknown)
  ARGV[11] credential generation the attempt used (shown to people; kept on the record)
  ARGV[12] history: entries always kept (1000)
  ARGV[13] history and idempotency horizon in ms (30 days)
  ARGV[14] history hard cap (entries)
  ARGV[15] '1' when the node holds a record of its own (it recorded before), '' if not
  ARGV[16] another id the same attempt may have been recorded under ('' for none): a
           slot's attempt id of an earlier release (see daemon/agent/schedule.ts). The
           attempt is recorded under both names while both releases may run: 0.1.0
           looks only for its own name, and would count the slot a second time
  ARGV[17] lastAttemptAt of the node's record as the node held it when the attempt
           began ('' when unknown), for results whose time is an estimate (ARGV[7]);
           see "Time" below
  ARGV[18] registration identity of the credential the attempt used ('' for a result
           journaled by 0.2.0: its generation, ARGV[11], names it)

  The streak follows the order attempts were MADE: a result older than the node's last
  recorded attempt (a journal replayed late, a result a fail-over had dropped) is kept
  in the history and counters but changes neither the streak nor its reasons.

  Registration (R5): registrations are told apart by identity, never by generation (a
  `register` into an emptied Redis numbers generations from 1 again). A result made
  with the credential of the current registration touches the streak, and the first
  such result on a record of another registration starts a new streak; a result of the
  registration the record still belongs to goes on with that registration's streak;
  any other result is history only.

  Time (R8, SPEC §4): a recorded time is never later than Redis TIME — an estimate
  made by a node whose clock was stepped forward while Redis was away is capped. A
  clock stepped backward makes an estimate older than the record's last attempt; when
  nothing was recorded since the attempt began (the stored lastAttemptAt is not newer
  than the one the node held then, ARGV[17]: attempts the node made during the same
  outage and replayed before it included), the result was made after everything in the
  record, so it is taken as in order at the record's last attempt time and its failure
  counts. An attempt that overlapped a newer recorded one keeps the usual order.

  Nothing is written unless the attempt can be applied whole (Redis keeps the writes
  made before a script error). These cases are answered without a write, for the node
  to recover and call again (daemon/agent/result-sink.ts):
  - lost: the credential is missing, or the record is missing although the node holds
    one and was not unbound on purpose — Redis lost its data since;
    restore-after-loss-8.lua puts them back first, so the streak goes on instead of
    starting again at 1;
  - corrupt: a number field (the list of repair-record-2.lua) is not an integer as
    HINCRBY takes it ('2.0' and '1e3' are not), or a reason field is not a reason, and
    the arithmetic below would fail halfway; repair-record-2.lua repairs it from what
    the node holds;
  - expired: the attempt is older than the idempotency horizon (ARGV[13]): its id
    would be trimmed as soon as written, so a second replay would count it again. It
    is not recorded; the node names it as lost (a log line and a counter);
  - damaged: a key the script touches holds a value of the wrong type (every key is
    checked before the first write); the reply names it (drop-damaged-1.lua removes a
    damaged key of the node's own, which the node then puts back).

  Returns { state, consecutiveFailures, atMs, record[, afresh] } (atMs: for a duplicate,
  the time it was recorded at)
    state = 1 when this call recorded the attempt, 0 when the attempt id (or ARGV[16])
    was already recorded (a BullMQ retry, a stalled re-run or a journal replay; the
    record's lastAttemptId counts as recorded too, should the id set be gone),
    -1 lost, -2 corrupt, -4 expired (nothing written);
    record = the node hash after the call (HGETALL), which the node keeps locally to
    restore it should Redis lose its data; for corrupt, the hash as it is;
    afresh = 1 when the node had been unbound on purpose and this attempt starts its
    record again (recorded only);
  or, for damaged, {'damaged', <role>} (the prelude's damagedReply; nothing written),
    role = which key: 'node', 'history', 'attempts', 'nodes', 'credential' or 'removed'.
]]
local nodeKey, historyKey, attemptsKey, nodesKey, eventsChannel, credentialKey, removedKey =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local nodeId, attemptId, ok = ARGV[1], ARGV[2], ARGV[3] == '1'
local keepEntries, horizon, hardCap = tonumber(ARGV[12]), tonumber(ARGV[13]), tonumber(ARGV[14])

local nowMs = redisNowMs()
local at = nowMs
if ARGV[7] ~= '' then at = math.min(tonumber(ARGV[7]), nowMs) end

-- Checked before the first write of this attempt (see above).
local damaged = firstDamaged({ { nodeKey, 'node', 'hash' }, { historyKey, 'history', 'list' }, { attemptsKey, 'attempts', 'zset' },
  { nodesKey, 'nodes', 'zset' }, { credentialKey, 'credential', 'hash' }, { removedKey, 'removed', 'set' } })
if damaged then return damagedReply(damaged) end
if redis.call('EXISTS', credentialKey) == 0 then return { -1, 0, at, {} } end
if ARGV[15] == '1' and redis.call('EXISTS', nodeKey) == 0 and redis.call('SISMEMBER', removedKey, nodeId) == 0 then
  return { -1, 0, at, {} }
end
-- The same list as repair-record-2.lua.
for _, field in ipairs({ 'lastAttemptAt', 'lastSuccessAt', 'consecutiveFailures', 'attemptsTotal', 'failuresTotal', 'generation',
  'licenseExpiresAt', 'licenseCapacity', 'licenseBound' }) do
  local value = redis.call('HGET', nodeKey, field)
  if value and not isInteger(value) then return { -2, 0, at, redis.call('HGETALL', nodeKey) } end
end
for _, field in ipairs({ 'reason', 'latestReason' }) do
  local value = redis.call('HGET', nodeKey, field)
  if value and value ~= '' then
    local okDecode, decoded = pcall(cjson.decode, value)
    if not okDecode or type(decoded) ~= 'table' or type(decoded.name) ~= 'string' or type(decoded.at) ~= 'number' then
      return { -2, 0, at, redis.call('HGETALL', nodeKey) }
    end
  end
end

-- An id counts as recorded only beside the record that counted it: ids left behind by a
-- record removed on its own (a damaged key dropped, a DEL) count nothing any more.
local recordExists = redis.call('EXISTS', nodeKey) == 1
local inSet = redis.call('ZSCORE', attemptsKey, attemptId) or (ARGV[16] ~= '' and redis.call('ZSCORE', attemptsKey, ARGV[16]))
if recordExists and (inSet or redis.call('HGET', nodeKey, 'lastAttemptId') == attemptId) then
  -- Known by the record's last attempt only (its id set was lost): the id goes back into the set,
  -- so that it is still known once a newer attempt is the last.
  local recordedAt = tonumber(inSet)
  if not inSet then
    recordedAt = integerOr(redis.call('HGET', nodeKey, 'lastAttemptAt'), at)
    redis.call('ZADD', attemptsKey, recordedAt, attemptId)
  end
  local cf = integerOr(redis.call('HGET', nodeKey, 'consecutiveFailures'), 0)
  -- The time it was recorded at, not this call's estimate: the node keeps it with the id.
  return { 0, cf, math.floor(recordedAt or at), redis.call('HGETALL', nodeKey) }
end
local lastAttemptAt = integerOr(redis.call('HGET', nodeKey, 'lastAttemptAt'), 0)
if ARGV[7] ~= '' and ARGV[17] ~= '' and at < lastAttemptAt and lastAttemptAt <= tonumber(ARGV[17]) then
  at = lastAttemptAt
end
if at < nowMs - horizon then return { -4, 0, at, redis.call('HGETALL', nodeKey) } end

-- The node reports again: it is no longer one that was unbound on purpose, and its
-- record starts afresh (the node forgets what it held of the old one).
local afresh = redis.call('SREM', removedKey, nodeId)
redis.call('ZADD', attemptsKey, at, attemptId)
if ARGV[16] ~= '' then redis.call('ZADD', attemptsKey, at, ARGV[16]) end
redis.call('ZREMRANGEBYSCORE', attemptsKey, '-inf', nowMs - horizon)
if redis.call('ZCARD', attemptsKey) > hardCap then
  redis.call('ZREMRANGEBYRANK', attemptsKey, 0, -hardCap - 1)
end
redis.call('ZADD', nodesKey, 'NX', at, nodeId)

local credential = redis.call('HMGET', credentialKey, 'registration', 'generation')
local currentRegistration = registrationOf(credential[1], credential[2])
local attemptRegistration = registrationOf(ARGV[18], ARGV[11])
local held = redis.call('HMGET', nodeKey, 'registration', 'generation')
local recordRegistration = registrationOf(held[1], held[2])
local inOrder = at >= lastAttemptAt
-- The record's streak is that of its registration's attempts, in the order they were
-- made: a result of the current registration counts (and starts the streak afresh on a
-- record of another); one of the registration the record still belongs to goes on with
-- that streak (which the view counts only while it is current); any other, or one older
-- than the last recorded attempt, is history only.
local countsForStreak = inOrder and (attemptRegistration == currentRegistration or attemptRegistration == recordRegistration)
if inOrder then
  redis.call('HSET', nodeKey, 'lastAttemptAt', at, 'lastAttemptId', attemptId)
end
if countsForStreak and recordRegistration ~= attemptRegistration then
  redis.call('HSET', nodeKey, 'consecutiveFailures', 0, 'reason', '', 'latestReason', '')
end
if countsForStreak then
  redis.call('HSET', nodeKey, 'registration', attemptRegistration, 'generation', ARGV[11])
end
redis.call('HINCRBY', nodeKey, 'attemptsTotal', 1)
if redis.call('HEXISTS', nodeKey, 'consecutiveFailures') == 0 then
  redis.call('HSET', nodeKey, 'consecutiveFailures', 0, 'reason', '', 'latestReason', '')
end

local cf = tonumber(redis.call('HGET', nodeKey, 'consecutiveFailures'))
if ok then
  if countsForStreak then
    cf = 0
    redis.call('HSET', nodeKey, 'consecutiveFailures', 0, 'reason', '', 'latestReason', '')
  end
  local lastSuccessAt = integerOr(redis.call('HGET', nodeKey, 'lastSuccessAt'), 0)
  if at >= lastSuccessAt then
    redis.call('HSET', nodeKey, 'lastSuccessAt', at)
    if ARGV[8] ~= '' then redis.call('HSET', nodeKey, 'licenseExpiresAt', ARGV[8]) end
    if ARGV[9] ~= '' then redis.call('HSET', nodeKey, 'licenseCapacity', ARGV[9]) end
    if ARGV[10] ~= '' then redis.call('HSET', nodeKey, 'licenseBound', ARGV[10]) end
  end
else
  local code = cjson.null
  if ARGV[4] ~= '' then code = tonumber(ARGV[4]) end
  local reason = cjson.encode({ code = code, name = ARGV[5], message = ARGV[6], at = at, attemptId = attemptId })
  redis.call('HINCRBY', nodeKey, 'failuresTotal', 1)
  if countsForStreak then
    if cf == 0 then redis.call('HSET', nodeKey, 'reason', reason) end
    cf = cf + 1
    redis.call('HSET', nodeKey, 'consecutiveFailures', cf, 'latestReason', reason)
  end
  -- With the registration it was made under and whether it counted in the streak, so a
  -- streak can be rebuilt from the history (repair-record-2.lua).
  redis.call('LPUSH', historyKey,
    cjson.encode({ node = nodeId, code = code, name = ARGV[5], message = ARGV[6], at = at, attemptId = attemptId,
      registration = attemptRegistration, counted = countsForStreak }))
  -- Keep every entry younger than the horizon and always the newest keepEntries,
  -- with a hard cap so a node failing every second cannot grow the list forever.
  local len = redis.call('LLEN', historyKey)
  local pops = 0
  while len > keepEntries and pops < 16 do
    local tail = redis.call('LINDEX', historyKey, -1)
    local okDecode, entry = pcall(cjson.decode, tail)
    local old = (not okDecode) or type(entry) ~= 'table' or tonumber(entry.at or 0) < nowMs - horizon
    if old or len > hardCap then
      redis.call('RPOP', historyKey)
      len = len - 1
      pops = pops + 1
    else
      break
    end
  end
end

local okFlag = false
if ok then okFlag = true end
redis.call('PUBLISH', eventsChannel, cjson.encode({ type = 'attempt', node = nodeId, attemptId = attemptId, ok = okFlag }))
return { 1, cf, at, redis.call('HGETALL', nodeKey), afresh }
