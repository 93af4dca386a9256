import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Account passwords are stored only as salted scrypt hashes
 * (`scrypt$N$r$p$salt$key`, base64), never as text. The parameters travel with the
 * hash so they can be raised later without invalidating stored accounts.
 * Verification compares in constant time, and an unknown account is verified against
 * a dummy hash so its answer takes as long as a wrong password's.
 *
 * The cost is the OWASP Password Storage Cheat Sheet's current minimum for scrypt:
 * N = 2^17, r = 8 (1024-byte blocks), p = 1 — 128 MiB and a few hundred milliseconds
 * of a thread-pool thread per derivation. Hashes stored under the earlier N = 2^14
 * still verify (their parameters are read from the hash); parameters above what this
 * server ever writes are refused without deriving, so a damaged record cannot make it
 * try to allocate gigabytes.
 *
 * The cost (log2 of N) is authserver.passwordHashCost: 17 unless set. The test suite
 * runs its reference servers at 14 — hundreds of accounts made and wrong passwords
 * tried, each 0.4 s of CPU at 17, starved the suite pinned to one core — and keeps
 * the default's own tests at 17.
 */
export const DEFAULT_PASSWORD_HASH_COST = 17;
/** The lowest cost the server accepts (N = 2^14, scrypt's long-standing interactive minimum). */
export const MIN_PASSWORD_HASH_COST = 14;
const PARAMS = { N: 2 ** DEFAULT_PASSWORD_HASH_COST, r: 8, p: 1 } as const;
const KEY_LENGTH = 32;
const SALT_LENGTH = 16;
/** scrypt's memory is 128 × N × r bytes; this is twice the current parameters' need. */
const MAX_MEMORY = 2 * 128 * PARAMS.N * PARAMS.r;

function derive(password: string, salt: Buffer, keyLength: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keyLength, { ...options, maxmem: MAX_MEMORY }, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

/** A salted hash of `password` at 2^cost (MIN_PASSWORD_HASH_COST up to the default). */
export async function hashPassword(password: string, cost: number = DEFAULT_PASSWORD_HASH_COST): Promise<string> {
  if (!Number.isInteger(cost) || cost < MIN_PASSWORD_HASH_COST || cost > DEFAULT_PASSWORD_HASH_COST) {
    throw new RangeError(`password hash cost must be a whole number from ${MIN_PASSWORD_HASH_COST} to ${DEFAULT_PASSWORD_HASH_COST}, got ${cost}`);
  }
  const params = { ...PARAMS, N: 2 ** cost };
  const salt = randomBytes(SALT_LENGTH);
  const key = await derive(password, salt, KEY_LENGTH, params);
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64'), key.toString('base64')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  const salt = Buffer.from(parts[4] ?? '', 'base64');
  const expected = Buffer.from(parts[5] ?? '', 'base64');
  if (!N || !r || !p || salt.length === 0 || expected.length === 0) return false;
  if (N > PARAMS.N || r > PARAMS.r || p > PARAMS.p) return false;
  const key = await derive(password, salt, expected.length, { N, r, p });
  return timingSafeEqual(key, expected);
}

const dummies = new Map<number, Promise<string>>();

/** A hash of a random password at the server's cost, for spending the same time on unknown accounts. */
export function dummyHash(cost: number = DEFAULT_PASSWORD_HASH_COST): Promise<string> {
  let dummy = dummies.get(cost);
  if (!dummy) {
    dummy = hashPassword(randomBytes(16).toString('hex'), cost);
    dummies.set(cost, dummy);
  }
  return dummy;
}
