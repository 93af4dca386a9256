--[[
  The aggregator's only write: the project status, fenced by the leader epoch.

  A leader that was paused past its lease may still believe it leads; its writes
  carry the epoch it was elected with and are refused here once another candidate
  holds the lease (or the lease expired). `failed` is sticky: once written, only
  `register` (which sets `unregistered` and bumps the credential generation) clears
  it, so this script never writes over it. A view computed before a register is
  refused too (its credential generation is older than the current one).

  KEYS[1] leader key (`instance|epoch`)
  KEYS[2] status hash (status, since, epoch, failedAt, generation)
  KEYS[3] counters hash (staleWritesRejected)
  KEYS[4] events channel
  KEYS[5] credential hash (generation)
  ARGV[1] instance id of the writer
  ARGV[2] epoch the writer was elected with
  ARGV[3] new status
  ARGV[4] credential generation the status was computed from

  Returns  1 written
           0 unchanged (already this status)
           2 refused: the stored status is failed (sticky)
           3 refused: the view predates the current registration (generation changed)
          -1 refused: stale epoch (the writer does not hold the lease)
]]
if redis.call('GET', KEYS[1]) ~= (ARGV[1] .. '|' .. ARGV[2]) then
  redis.call('HINCRBY', KEYS[3], 'staleWritesRejected', 1)
  return -1
end
local current = redis.call('HGET', KEYS[2], 'status')
if current == 'failed' then
  return 2
end
local generation = redis.call('HGET', KEYS[5], 'generation') or '0'
if generation ~= ARGV[4] then
  return 3
end
if current == ARGV[3] then
  return 0
end
-- R8: times recorded in Redis come from Redis.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[2], 'status', ARGV[3], 'since', now, 'epoch', ARGV[2], 'generation', ARGV[4])
if ARGV[3] == 'failed' then
  redis.call('HSET', KEYS[2], 'failedAt', now)
else
  redis.call('HDEL', KEYS[2], 'failedAt')
end
redis.call('PUBLISH', KEYS[4], cjson.encode({type = 'status', status = ARGV[3], epoch = tonumber(ARGV[2])}))
return 1
