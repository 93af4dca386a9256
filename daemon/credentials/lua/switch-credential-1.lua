--[[
  Replaces a credential's ciphertext by the same password encrypted with another
  algorithm, only if the credential is still the one the caller decrypted
  (compare-and-set on the ciphertext). The ciphertext, algorithm and key id change
  together, so the stored triple always decrypts. The generation and the registration
  are unchanged: the password is the same. The ciphertext gets a new revision (Redis
  TIME and random bytes) and revisedAt, so a node that held the old ciphertext never
  restores it over this one after a loss of Redis data (R5, R9).

  Input:
    KEYS[1] credential hash

    ARGV[1] ciphertext the caller read and decrypted
    ARGV[2] new ciphertext
    ARGV[3] new algorithm
    ARGV[4] new key id
    ARGV[5] random hex from the caller, for the revision's identity

  Output:
    1  switched
    0  the stored ciphertext is no longer ARGV[1] (a concurrent register or switch): read again
   -1  there is no credential
]]
local stored = redis.call('HGET', KEYS[1], 'ciphertext')
if not stored then
  return -1
end
if stored ~= ARGV[1] then
  return 0
end
-- TIME is read here rather than through redisNowMs because the revision's identity is
-- made of its raw seconds and microseconds: one reading gives both, so they agree.
local now = redis.call('TIME')
local revisedAt = timeMs(now)
-- Strictly later than the revision it replaces, even within one millisecond.
local previous = integerOr(redis.call('HGET', KEYS[1], 'revisedAt'), integerOr(redis.call('HGET', KEYS[1], 'registeredAt'), 0))
if revisedAt <= previous then revisedAt = previous + 1 end
-- A credential written before 0.3.0 has no registration field: it keeps its identity by generation.
if not redis.call('HGET', KEYS[1], 'registration') then
  redis.call('HSET', KEYS[1], 'registration', registrationOf(nil, redis.call('HGET', KEYS[1], 'generation')))
end
redis.call('HSET', KEYS[1], 'ciphertext', ARGV[2], 'algorithm', ARGV[3], 'keyId', ARGV[4],
  'revision', string.format('v%d.%06d-%s', tonumber(now[1]), tonumber(now[2]), ARGV[5]), 'revisedAt', revisedAt)
return 1
