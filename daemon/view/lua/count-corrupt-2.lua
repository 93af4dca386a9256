--[[
  Counts corrupt records (SPEC §4) for the whole project, whoever found them: the
  leader, a non-leader serving /status, the CLI, a previous leader. Each distinct
  record content is counted once, however many readers find it, by remembering its
  digest; a record that changes and is still broken is a new corrupt record.
  The remembered set is bounded: past ARGV[1] entries it is dropped and starts over
  (the records still corrupt are then counted once more, never lost).

  KEYS[1] corrupt seen (hash): '<kind>:<id>:<sha1 of content>' -> '1'
  KEYS[2] counters (hash): corruptRecords

  ARGV[1] most digests remembered
  ARGV[2..] fields of the corrupt records found (as in KEYS[1])

  Returns the project's total of corrupt records (counters.corruptRecords); {'damaged',
  <role>} (the prelude's damagedReply; nothing written) when the seen hash ('seen') or
  the counters hash ('counters') holds a value of the wrong type — checked before the
  first write (SPEC §4).
]]
local damaged = firstDamaged({ { KEYS[1], 'seen', 'hash' }, { KEYS[2], 'counters', 'hash' } })
if damaged then return damagedReply(damaged) end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
end
for i = 2, #ARGV do
  if redis.call('HSETNX', KEYS[1], ARGV[i], '1') == 1 then
    incrementCounter(KEYS[2], 'corruptRecords')
  end
end
return integerOr(redis.call('HGET', KEYS[2], 'corruptRecords'), 0)
