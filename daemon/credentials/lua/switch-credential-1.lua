--[[
  Replaces a credential's ciphertext by the same password encrypted with another
  algorithm, only if the credential is still the one the caller decrypted
  (compare-and-set on the ciphertext). The ciphertext, algorithm and key id change
  together, so the stored triple always decrypts. The generation is unchanged: the
  password is the same.

  Input:
    KEYS[1] credential hash

    ARGV[1] ciphertext the caller read and decrypted
    ARGV[2] new ciphertext
    ARGV[3] new algorithm
    ARGV[4] new key id

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
redis.call('HSET', KEYS[1], 'ciphertext', ARGV[2], 'algorithm', ARGV[3], 'keyId', ARGV[4])
return 1
