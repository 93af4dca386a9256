--[[
  Removes a key of the node's own (its record, failure history or recorded attempt
  ids) that holds a value of the wrong type (SPEC §4), so the node can put back what it
  holds and record again instead of sending every result to the journal. Only a key
  still of a wrong type is removed: one repaired meanwhile is left alone.

  KEYS[1] the damaged key

  ARGV[1] the type the key must have ('hash', 'list' or 'zset')

  Returns the type the key had ('none' when it is gone), removed only when it was
  neither ARGV[1] nor 'none'.
]]
local kind = redis.call('TYPE', KEYS[1]).ok
if kind ~= 'none' and kind ~= ARGV[1] then redis.call('DEL', KEYS[1]) end
return kind
