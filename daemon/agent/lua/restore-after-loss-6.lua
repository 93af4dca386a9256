--[[
  Puts back what a node holds after Redis lost its data (restart without persistence,
  FLUSHALL): the project's credential as the node last read it (still encrypted) and
  the node's own latest record. Only what is missing is written, so a live project is
  never overwritten, and several nodes restoring at once agree. The restoration is
  noted in the recovery hash, which `status` shows, because the failure history from
  before the loss cannot come back.

  KEYS[1] credential (hash)       KEYS[2] node record (hash)
  KEYS[3] project's nodes (zset)  KEYS[4] recovery (hash)
  KEYS[5] node's recorded attempt ids (zset)
  KEYS[6] removed nodes (set): a node unbound on purpose is not put back

  ARGV[1] node id
  ARGV[2] events channel
  ARGV[3] credential as JSON object of fields, '' when the node holds none
  ARGV[4] node record as JSON object of fields, '' when the node holds none
  ARGV[5] the node's first-seen score for the nodes set
  ARGV[6] the ids and times of the results the record holds (JSON array of [id, ms]),
          put back with it so that re-recording them counts nothing twice

  Returns a list of what was restored ('credential', 'node').
]]
local restored = {}
if ARGV[3] ~= '' and redis.call('EXISTS', KEYS[1]) == 0 then
  for field, value in pairs(cjson.decode(ARGV[3])) do redis.call('HSET', KEYS[1], field, tostring(value)) end
  table.insert(restored, 'credential')
end
if ARGV[4] ~= '' and redis.call('EXISTS', KEYS[2]) == 0 and redis.call('SISMEMBER', KEYS[6], ARGV[1]) == 0 then
  for field, value in pairs(cjson.decode(ARGV[4])) do redis.call('HSET', KEYS[2], field, tostring(value)) end
  if ARGV[6] ~= '' then
    for _, pair in ipairs(cjson.decode(ARGV[6])) do redis.call('ZADD', KEYS[5], 'NX', tonumber(pair[2]), pair[1]) end
  end
  redis.call('ZADD', KEYS[3], 'NX', tonumber(ARGV[5]), ARGV[1])
  table.insert(restored, 'node')
end
if #restored > 0 then
  local t = redis.call('TIME')
  local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('HSETNX', KEYS[4], 'at', nowMs)
  redis.call('HSET', KEYS[4], 'node:' .. ARGV[1], table.concat(restored, ','))
  redis.call('PUBLISH', ARGV[2], cjson.encode({ type = 'restored', node = ARGV[1], restored = restored }))
end
return restored
