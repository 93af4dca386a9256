import { randomBytes, scryptSync } from 'node:crypto';
import { hashPassword, verifyPassword } from '../../daemon/authserver/password-hash';

/**
 * The reference server's password hashes (issue 28, item 9): scrypt at the OWASP
 * Password Storage Cheat Sheet's current minimum (N = 2^17, r = 8, p = 1), and a hash
 * stored under the earlier parameters (N = 2^14) still verifies, because each hash
 * carries its own parameters.
 */
jest.setTimeout(30_000);

describe('password hashes', () => {
  it('hashes with scrypt N=2^17, r=8, p=1 and verifies the right password only', async () => {
    const stored = await hashPassword('correct horse');
    expect(stored).toMatch(/^scrypt\$131072\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(await verifyPassword('correct horse', stored)).toBe(true);
    expect(await verifyPassword('correct horsE', stored)).toBe(false);
  });

  it('hashes at a lower cost when the server is set to (tests), never below 2^14 nor above the default', async () => {
    const stored = await hashPassword('test horse', 14);
    expect(stored).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(await verifyPassword('test horse', stored)).toBe(true);
    expect(await verifyPassword('test horsE', stored)).toBe(false);
    await expect(hashPassword('x', 13)).rejects.toThrow('password hash cost must be a whole number from 14 to 17, got 13');
    await expect(hashPassword('x', 18)).rejects.toThrow('got 18');
  });

  it('still verifies a hash stored with the earlier parameters (N=2^14)', async () => {
    const salt = randomBytes(16);
    const key = scryptSync('old password', salt, 32, { N: 16384, r: 8, p: 1 });
    const stored = ['scrypt', 16384, 8, 1, salt.toString('base64'), key.toString('base64')].join('$');
    expect(await verifyPassword('old password', stored)).toBe(true);
    expect(await verifyPassword('other', stored)).toBe(false);
  });

  it('refuses a malformed hash or parameters past what the server would ever store, without deriving', async () => {
    expect(await verifyPassword('x', 'scrypt$abc')).toBe(false);
    expect(await verifyPassword('x', 'bcrypt$1$2$3$4$5')).toBe(false);
    // N = 2^24 would ask 16 GiB: a damaged record must not make the server try.
    expect(await verifyPassword('x', `scrypt$16777216$8$1$${'a'.repeat(24)}$${'b'.repeat(44)}`)).toBe(false);
  });
});
