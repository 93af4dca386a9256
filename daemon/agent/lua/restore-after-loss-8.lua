--[[
  Puts back what a node holds after Redis lost its data (restart without persistence,
  FLUSHALL): the project's credential as the node last read it (still encrypted), the
  node's own latest record, and the last `failed` verdict it saw (R5: failed is sticky
  across a loss of Redis data; only `register` clears it). Only what is missing is
  written, so a live project is never overwritten, and several nodes restoring at
  once agree. The restoration is noted in the recovery hash, which `status` shows,
  because the failure history from before the loss cannot come back.

  KEYS[1] credential (hash)       KEYS[2] node record (hash)
  KEYS[3] project's nodes (zset)  KEYS[4] recovery (hash)
  KEYS[5] node's recorded attempt ids (zset)
  KEYS[6] removed nodes (set): a node unbound on purpose is not put back
  KEYS[7] project status (hash)
  KEYS[8] events channel

  It runs as a step of its own, before recording, whenever the node sees the loss:
  Redis answers again, the read before an attempt finds missing what the node holds,
  or record-attempt-7.lua refuses an attempt because the node's record is gone.

  ARGV[1] node id
  ARGV[2] credential as JSON object of fields, '' when the node holds none
  ARGV[3] node record as JSON object of fields, '' when the node holds none
  ARGV[4] the node's first-seen score for the nodes set
  ARGV[5] the ids and times of the results the record holds (JSON array of [id, ms]),
          put back with it so that re-recording them counts nothing twice
  ARGV[6] the failed verdict the node holds, '' when none: JSON object of strings
          {since, epoch, failedAt, generation, registeredAt}. Put back when the stored
          credential is the one it was about (same generation and registeredAt) and
          the stored status is not `failed`. Within one registration `failed` is
          sticky, so a status about that credential that is not `failed` can only be
          what is left after a loss (or what a leader computed from a half-restored
          project): it is never newer than the verdict. A `register` changes the
          credential, so a verdict it cleared is never put back.
  ARGV[7] the project's members as the node last saw them (JSON array of [id, first-seen
          ms]), '' when it holds none: a member whose sidecar is down during the loss is
          put back too, so the policy still counts it (an unknown member, R5) instead of
          failing the project on the members that happen to be up. A member unbound on
          purpose (in KEYS[6]) is not.

  Generation order (R5): a credential is put back where none is stored, and over a
  stored one that is older — a lower generation registered earlier, which is what a
  node that was down during a re-registration restores if it starts first. Then a
  status about another generation than the stored credential's is dropped: a verdict
  applies only to its own registration. A held credential never replaces a newer one.

  Every key is checked for its type before the first write (nothing is written
  halfway, SPEC §4); a key of the wrong type is answered as {'damaged', <key role>}
  and nothing is written.

  Returns a list of what was restored ('credential', 'node', 'status', 'members').
]]
local roles = { 'credential', 'node', 'nodes', 'recovery', 'attempts', 'removed', 'status' }
local wanted = { 'hash', 'hash', 'zset', 'hash', 'zset', 'set', 'hash' }
for i, role in ipairs(roles) do
  local kind = redis.call('TYPE', KEYS[i]).ok
  if kind ~= 'none' and kind ~= wanted[i] then return { 'damaged', role } end
end

local restored = {}
local heldCredential = nil
if ARGV[2] ~= '' then heldCredential = cjson.decode(ARGV[2]) end
if heldCredential then
  local stored = redis.call('HMGET', KEYS[1], 'generation', 'registeredAt')
  local storedGeneration, storedAt = tonumber(stored[1] or ''), tonumber(stored[2] or '')
  local heldGeneration, heldAt = tonumber(heldCredential.generation or ''), tonumber(heldCredential.registeredAt or '')
  local missing = redis.call('EXISTS', KEYS[1]) == 0
  -- Newer only when both the generation and the registration time say so: a generation
  -- count that started again (a register into an empty Redis) is not mistaken for older.
  local storedOlder = storedGeneration ~= nil and heldGeneration ~= nil and heldGeneration > storedGeneration
    and (heldAt == nil or storedAt == nil or heldAt > storedAt)
  if missing or storedOlder then
    redis.call('DEL', KEYS[1])
    for field, value in pairs(heldCredential) do redis.call('HSET', KEYS[1], field, tostring(value)) end
    table.insert(restored, 'credential')
    local statusGeneration = redis.call('HGET', KEYS[7], 'generation')
    if storedOlder and statusGeneration and statusGeneration ~= tostring(heldCredential.generation) then
      redis.call('DEL', KEYS[7])
    end
  end
end
if ARGV[3] ~= '' and redis.call('EXISTS', KEYS[2]) == 0 and redis.call('SISMEMBER', KEYS[6], ARGV[1]) == 0 then
  for field, value in pairs(cjson.decode(ARGV[3])) do redis.call('HSET', KEYS[2], field, tostring(value)) end
  if ARGV[5] ~= '' then
    for _, pair in ipairs(cjson.decode(ARGV[5])) do redis.call('ZADD', KEYS[5], 'NX', tonumber(pair[2]), pair[1]) end
  end
  redis.call('ZADD', KEYS[3], 'NX', tonumber(ARGV[4]), ARGV[1])
  table.insert(restored, 'node')
end
if ARGV[7] ~= '' then
  local added = 0
  for _, pair in ipairs(cjson.decode(ARGV[7])) do
    if redis.call('SISMEMBER', KEYS[6], pair[1]) == 0 then
      added = added + redis.call('ZADD', KEYS[3], 'NX', tonumber(pair[2]), pair[1])
    end
  end
  if added > 0 then table.insert(restored, 'members') end
end
if ARGV[6] ~= '' then
  local verdict = cjson.decode(ARGV[6])
  local credential = redis.call('HMGET', KEYS[1], 'generation', 'registeredAt')
  if credential[1] == verdict.generation and (credential[2] or '') == verdict.registeredAt
      and redis.call('HGET', KEYS[7], 'status') ~= 'failed' then
    redis.call('DEL', KEYS[7])
    redis.call('HSET', KEYS[7], 'status', 'failed', 'since', verdict.since, 'epoch', verdict.epoch,
      'failedAt', verdict.failedAt, 'generation', verdict.generation)
    table.insert(restored, 'status')
  end
end
if #restored > 0 then
  local t = redis.call('TIME')
  local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('HSETNX', KEYS[4], 'at', nowMs)
  redis.call('HSET', KEYS[4], 'node:' .. ARGV[1], table.concat(restored, ','))
  redis.call('PUBLISH', KEYS[8], cjson.encode({ type = 'restored', node = ARGV[1], restored = restored }))
end
return restored
