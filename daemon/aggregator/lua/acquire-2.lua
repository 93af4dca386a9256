--[[
  Takes the leader lease if nobody holds it, and hands out a new fencing epoch.

  KEYS[1] leader key (string `instance|epoch`, with a PX expiry)
  KEYS[2] epoch key (integer counter, never expires: epochs only grow)
  ARGV[1] instance id of the candidate
  ARGV[2] lease length in ms

  Returns {1, epoch} when the lease was taken,
          {0, current value} when someone holds it (possibly this instance).
]]
local current = redis.call('GET', KEYS[1])
if current then
  return {0, current}
end
local epoch = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. epoch, 'PX', tonumber(ARGV[2]))
return {1, epoch}
