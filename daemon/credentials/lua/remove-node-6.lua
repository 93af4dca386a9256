--[[
  Removes an unbound node from the project view (after `fdl-cloudauth unbind`): its
  record, its idempotency set and its membership of the project's nodes. Its failure
  history is kept for 30 days so `failures` can still explain what happened.

  KEYS[1] project's nodes (zset)   KEYS[2] node record (hash)
  KEYS[3] recorded attempt ids     KEYS[4] failure history (list)
  KEYS[5] removed nodes (set): the node's sidecar, should it run again with its old
          local state, must not mistake the missing record for lost Redis data
  KEYS[6] events channel

  ARGV[1] node id
  ARGV[2] history retention in seconds
  ARGV[3] the node record key prefix (`<...>:node:`): the other members' records, which
          share the project's hash tag, named from the nodes set
  ARGV[4] the license slots the server counts after the unbind: a count; '' when the
          server freed a slot without saying how many are left (one less); '-' when it
          freed none (the node was not bound: 20000)

  The other members' records each hold the slot count they last heard from the server,
  and `status` shows the latest success's: without this, "3 of 5 slots bound" would be
  shown after an unbind until the next heartbeat, up to an interval later.

  Returns 1 when the node was part of the project, 0 otherwise; {'damaged', <role>} (the
  prelude's damagedReply; nothing written) when the nodes set ('nodes') or the removed
  set ('removed') holds a value of the wrong type — checked before the first write
  (SPEC §4).
]]
local damaged = firstDamaged({ { KEYS[1], 'nodes', 'zset' }, { KEYS[5], 'removed', 'set' } })
if damaged then return damagedReply(damaged) end
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('SADD', KEYS[5], ARGV[1])
if redis.call('EXISTS', KEYS[4]) == 1 then redis.call('EXPIRE', KEYS[4], tonumber(ARGV[2])) end
if ARGV[4] ~= '-' then
  for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    local record = ARGV[3] .. member
    -- A damaged record is the leader's and its sidecar's to find; its count is left alone.
    if redis.call('TYPE', record).ok == 'hash' then
      local bound = redis.call('HGET', record, 'licenseBound')
      if isInteger(bound) then
        if ARGV[4] == '' then
          if tonumber(bound) > 0 then redis.call('HSET', record, 'licenseBound', tonumber(bound) - 1) end
        elseif isInteger(ARGV[4]) then
          redis.call('HSET', record, 'licenseBound', ARGV[4])
        end
      end
    end
  end
end
redis.call('PUBLISH', KEYS[6], cjson.encode({ type = 'node-removed', node = ARGV[1] }))
return removed
