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

  Returns the project's total of corrupt records (counters.corruptRecords); -1
  (nothing written) when a key holds a value of the wrong type — checked before the
  first write (SPEC §4).
]]
for i = 1, 2 do
  local kind = redis.call('TYPE', KEYS[i]).ok
  if kind ~= 'none' and kind ~= 'hash' then return -1 end
end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
end
for i = 2, #ARGV do
  if redis.call('HSETNX', KEYS[1], ARGV[i], '1') == 1 then
    incrementCounter(KEYS[2], 'corruptRecords')
  end
end
return integerOr(redis.call('HGET', KEYS[2], 'corruptRecords'), 0)
