import { ReplyError } from 'ioredis';
import { RecordingRefusedError } from '../../daemon/agent/attempt-recorder';
import { redisAway } from '../../daemon/agent/result-sink';
import { DamagedKeyError } from '../../shared/redis/damaged-key-error';
import { LuaReplyError } from '../../shared/redis/lua-script';

/**
 * A failed write to Redis is told apart in the log: Redis away (it heals by itself) or a
 * refusal of the data or a script (someone must look). Either way the result is journaled.
 */
it.each([
  ['the connection closed', new Error('Connection is closed.'), true],
  ['no offline queue while disconnected', new Error("Stream isn't writeable and enableOfflineQueue options is false"), true],
  ['a replica after a fail-over', new ReplyError("READONLY You can't write against a read only replica."), true],
  ['a script that failed halfway', new ReplyError('ERR user_script:97: Script attempted to access nonexistent global variable'), false],
  ['a script refused', new ReplyError('ERR Error running script (call to f_0123): @user_script:1: ERR hash value is not an integer'), false],
  ['a recording refused after recovery', new RecordingRefusedError('slot:1', 'lost'), false],
  ['a project key of the wrong type', new DamagedKeyError('nodes', 'p:{x}:nodes', 'record-attempt-7.lua'), false],
  ['a reply of another shape', new LuaReplyError('record-attempt-7.lua', 'a list'), false],
])('%s → away: %s', (_what, error, away) => {
  expect(redisAway(error)).toBe(away);
});
