--[[
  Takes the leader lease if nobody holds it, and hands out a new fencing epoch.

  KEYS[1] leader key (string `instance|epoch`, with a PX expiry)
  KEYS[2] epoch key (integer counter, never expires: epochs only grow; a damaged one
          starts again from Redis time in ms)
  ARGV[1] instance id of the candidate
  ARGV[2] lease length in ms

  Returns {1, epoch} when the lease was taken,
          {0, current value} when someone holds it (possibly this instance).
]]
local current = redis.call('GET', KEYS[1])
if current then
  return {0, current}
end
-- An epoch key written by another tool ('7.0', a string, a wrong type) would make INCR
-- fail at every try, and no leader would ever be elected: it starts again from Redis
-- time in ms, which is above any count of elections, so epochs still only grow.
local kind = redis.call('TYPE', KEYS[2]).ok
if kind ~= 'none' and (kind ~= 'string' or not isInteger(redis.call('GET', KEYS[2]))) then
  redis.call('DEL', KEYS[2])
  redis.call('SET', KEYS[2], redisNowMs())
end
local epoch = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. epoch, 'PX', tonumber(ARGV[2]))
return {1, epoch}
