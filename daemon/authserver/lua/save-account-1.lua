--[[
  Creates or replaces an account's settings (the admin API's POST /admin/accounts); its
  bindings, in another key, are kept. The old settings go entirely (DEL, then HSET): an
  allow-list left out of the new settings must not survive from the old ones. When no
  new password hash is given, the stored one is kept, so an operator can change an
  allow-list without the account's password; an account that does not exist yet cannot
  be created without one.

  KEYS[1]  account hash  <prefix>:authserver:{<account>}:account
  ARGV[1]  password hash, or '' to keep the stored one
  ARGV[2..] the other fields, as field, value, field, value, ...

  Returns 1 created, 0 replaced, 2 no password given and no account to keep one of
  (nothing written).
]]
local existed = redis.call('EXISTS', KEYS[1]) == 1
local hash = ARGV[1]
if hash == '' then
  hash = redis.call('HGET', KEYS[1], 'passwordHash')
  if not hash then return 2 end
end
redis.call('DEL', KEYS[1])
local fields = { 'passwordHash', hash }
for i = 2, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
if existed then return 0 end
return 1
