--[[
  Stores a newly registered credential and, when the project had been marked failed,
  starts it afresh - all in one step, so an agent never sees a new credential with the
  old failed status, nor a cleared status with the old credential.

  Input:
    KEYS[1] credential hash
    KEYS[2] status hash
    KEYS[3] nodes sorted set (every node id of the project)
    KEYS[4] recovery hash: a registration starts afresh, so the note that Redis once
            lost the project's data (and its failure history) is dropped
    KEYS[5] events channel

    ARGV[1] account
    ARGV[2] ciphertext (base64)
    ARGV[3] algorithm ('rsa' | 'sm2')
    ARGV[4] key id of the public key used
    ARGV[5] algorithm the caller read from the credential ('' when there was none):
            if `crypto switch` changed it meanwhile, nothing is written
    ARGV[6] prefix of the node hashes ('<base>:node:'); node ids are appended (the
            only key not in KEYS: which nodes exist is read here; every node hash
            shares the project's hash tag, so it lives in the same slot)
    ARGV[7] random hex from the caller: with Redis TIME it makes the registration's
            identity (SPEC R5), which no later `register` repeats, even into an empty
            or a different Redis where the generation number starts again at 1

  The credential's revision (the identity of its ciphertext, which `crypto switch`
  changes) starts as the registration's identity; revisedAt orders revisions.

  Output: { code, generation, registeredAt, clearedFailed, nodesReset, registration }
    code  1 stored
          0 the stored algorithm is no longer ARGV[5] (concurrent crypto switch): read again
  or {'damaged', <role>} (the prelude's damagedReply; nothing written) when a key holds a
  value of the wrong type: 'credential', 'status', 'nodes' or 'recovery'. Checked before
  the first write (SPEC §4); a node record of the wrong type is left alone (its node is
  an unknown member, and its sidecar puts its record back).
]]
local credentialKey, statusKey, nodesKey, recoveryKey, eventsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]

local damaged = firstDamaged({ { credentialKey, 'credential', 'hash' }, { statusKey, 'status', 'hash' }, { nodesKey, 'nodes', 'zset' },
  { recoveryKey, 'recovery', 'hash' } })
if damaged then return damagedReply(damaged) end

local stored = redis.call('HGET', credentialKey, 'algorithm')
if (stored or '') ~= ARGV[5] then
  return { 0, 0, 0, 0, 0, '' }
end

-- R8: times come from Redis, not from the machine that runs the CLI. TIME is read here
-- rather than through redisNowMs because the identity is made of its raw seconds and
-- microseconds: one reading gives both, so registeredAt and the identity agree.
local now = redis.call('TIME')
local nowMs = timeMs(now)
local registration = string.format('r%d.%06d-%s', tonumber(now[1]), tonumber(now[2]), ARGV[7])

-- For people; a generation that is not an integer (edited by hand) starts the count again.
local generation = integerOr(redis.call('HGET', credentialKey, 'generation'), 0) + 1
redis.call('DEL', credentialKey)
redis.call('HSET', credentialKey,
  'account', ARGV[1],
  'ciphertext', ARGV[2],
  'algorithm', ARGV[3],
  'keyId', ARGV[4],
  'generation', generation,
  'registeredAt', nowMs,
  'registration', registration,
  'revision', registration,
  'revisedAt', nowMs)

local clearedFailed, nodesReset = 0, 0
if redis.call('HGET', statusKey, 'status') == 'failed' then
  -- R5: failed is sticky and only a registration clears it. The leader recomputes the
  -- status from the nodes once they authenticate with the new credential.
  redis.call('HSET', statusKey, 'status', 'unregistered', 'since', nowMs, 'generation', generation, 'registration', registration)
  redis.call('HDEL', statusKey, 'failedAt')
  clearedFailed = 1
  -- Every node starts a new streak; its failure history list is kept (R4).
  for _, id in ipairs(redis.call('ZRANGE', nodesKey, 0, -1)) do
    local nodeKey = ARGV[6] .. id
    if redis.call('TYPE', nodeKey).ok == 'hash' then
      redis.call('HSET', nodeKey, 'consecutiveFailures', 0, 'reason', '', 'latestReason', '')
      nodesReset = nodesReset + 1
    end
  end
end

redis.call('DEL', recoveryKey)
redis.call('PUBLISH', eventsKey, cjson.encode({ type = 'registered', generation = generation, registration = registration }))
return { 1, generation, nowMs, clearedFailed, nodesReset, registration }
