--[[
  Gives the lease up on a graceful stop and tells the candidates at once, so one of
  them takes over without waiting for the lease to expire.

  KEYS[1] leader key
  KEYS[2] events channel
  ARGV[1] expected value `instance|epoch`
  ARGV[2] event to publish (JSON {"type":"leader-released",...})

  Returns 1 when released, 0 when the lease was not ours any more (nothing changed).
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', KEYS[2], ARGV[2])
  return 1
end
return 0
