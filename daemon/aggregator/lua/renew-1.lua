--[[
  Extends the leader lease, only if this instance still holds it with this epoch
  (compare-and-pexpire: a lease that expired and was taken by another candidate
  is not stolen back).

  KEYS[1] leader key
  ARGV[1] expected value `instance|epoch`
  ARGV[2] lease length in ms

  Returns 1 when renewed, 0 when the lease is no longer ours.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
  return 1
end
return 0
