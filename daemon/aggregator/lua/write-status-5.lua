--[[
  The aggregator's only write: the project status, fenced by the leader epoch.

  A leader that was paused past its lease may still believe it leads; its writes
  carry the epoch it was elected with and are refused here once another candidate
  holds the lease (or the lease expired). `failed` is sticky: once written, only
  `register` (which sets `unregistered` under a new registration identity) clears
  it, so this script never writes over it. A view computed under another registration
  than the stored credential's (before a register) is refused too, and so is any
  write while no credential is stored: that is a Redis that lost its data (or was
  never registered), and a status written now would un-fail a failed project before
  the nodes put their verdict back (R5). The leader recovers first and reads again.

  KEYS[1] leader key (`instance|epoch`)
  KEYS[2] status hash (status, since, epoch, failedAt, generation, registration)
  KEYS[3] counters hash (staleWritesRejected)
  KEYS[4] events channel
  KEYS[5] credential hash (generation, registration)
  ARGV[1] instance id of the writer
  ARGV[2] epoch the writer was elected with
  ARGV[3] new status
  ARGV[4] credential generation the status was computed from (for people)
  ARGV[5] registration identity the status was computed from

  Returns  1 written
           0 unchanged (already this status)
           2 refused: the stored status is failed (sticky)
           3 refused: the view is of another registration than the stored credential's
           4 refused: no credential is stored (lost, or never registered)
          -1 refused: stale epoch (the writer does not hold the lease)
]]
if redis.call('GET', KEYS[1]) ~= (ARGV[1] .. '|' .. ARGV[2]) then
  incrementCounter(KEYS[3], 'staleWritesRejected')
  return -1
end
local current = redis.call('HGET', KEYS[2], 'status')
if current == 'failed' then
  return 2
end
local credential = redis.call('HMGET', KEYS[5], 'registration', 'generation')
if not credential[2] then
  return 4
end
if registrationOf(credential[1], credential[2]) ~= ARGV[5] then
  return 3
end
if current == ARGV[3] then
  return 0
end
local now = redisNowMs()
redis.call('HSET', KEYS[2], 'status', ARGV[3], 'since', now, 'epoch', ARGV[2], 'generation', ARGV[4], 'registration', ARGV[5])
if ARGV[3] == 'failed' then
  redis.call('HSET', KEYS[2], 'failedAt', now)
else
  redis.call('HDEL', KEYS[2], 'failedAt')
end
redis.call('PUBLISH', KEYS[4], cjson.encode({type = 'status', status = ARGV[3], epoch = tonumber(ARGV[2])}))
return 1
