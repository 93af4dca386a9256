import bcrypt from 'bcryptjs';
import { BasicAuthCheck } from '../../daemon/http/basic-auth-check';

/**
 * The basic-auth limits on a fake clock: the right password is never locked out for
 * longer than one blocked-key slot (1 s), whatever came before it from its address;
 * a repeated wrong password is not a new guess; one user's guesser does not block
 * another user; guesses sent at once cannot pass the limit. Hashes at bcrypt cost 4:
 * the cost does not change the rules, only the time.
 */
const USERS = new Map([
  ['prometheus', bcrypt.hashSync('right-Pw-1', 4)],
  ['grafana', bcrypt.hashSync('other-Pw-2', 4)],
]);
const ADDRESS = '10.0.0.7';
const LIMITS = { perAddressAndUser: 30, windowMs: 5 * 60_000, blockedCheckEveryMs: 1000 };

function fixture() {
  const clock = { now: 0 };
  const check = new BasicAuthCheck(LIMITS, () => clock.now);
  const run = (user: string, password: string, from = ADDRESS) => check.check(USERS, user, password, from).then((r) => r.kind);
  return { clock, run };
}

it('lets the right password in after 100 wrong ones from its address, at its first try once a slot is free', async () => {
  const { clock, run } = fixture();
  const kinds: string[] = [];
  for (let i = 0; i < 100; i++) kinds.push(await run('prometheus', `wrong-${i}`));
  expect(kinds.slice(0, 31)).toEqual(Array(31).fill('wrong'));
  expect(kinds.slice(31)).toEqual(Array(69).fill('throttled'));
  clock.now += LIMITS.blockedCheckEveryMs;
  expect(await run('prometheus', 'right-Pw-1')).toBe('ok');
  // The success cleared the key: the next guess is checked, not throttled.
  expect(await run('prometheus', 'wrong-again')).toBe('wrong');
});

it('admits a verified password again once the guessing stops, and holds the guesser to one check a second', async () => {
  const { clock, run } = fixture();
  expect(await run('prometheus', 'right-Pw-1')).toBe('ok');
  for (let i = 0; i < 100; i++) await run('prometheus', `guess-${i}`);
  // Still guessing: answered without a check (a remembered right password is no exception,
  // or the memory would be an oracle at network speed).
  expect(await run('prometheus', 'right-Pw-1')).toBe('throttled');
  clock.now += LIMITS.blockedCheckEveryMs;
  expect(await run('prometheus', 'right-Pw-1')).toBe('ok');
  expect(await run('prometheus', 'right-Pw-1')).toBe('ok');
});

it('does not count a repeated wrong password as a new guess (a second Prometheus with an old password)', async () => {
  const { run } = fixture();
  for (let i = 0; i < 100; i++) expect(await run('prometheus', 'old-Password')).toBe('wrong');
  expect(await run('prometheus', 'right-Pw-1')).toBe('ok');
});

it('keys the count by address and user: a guesser of one user or of unknown users does not block another', async () => {
  const { run } = fixture();
  for (let i = 0; i < 40; i++) await run('grafana', `g-${i}`);
  for (let i = 0; i < 40; i++) await run('nobody', `n-${i}`);
  expect(await run('grafana', 'g-more')).toBe('throttled');
  expect(await run('nobody', 'n-more')).toBe('throttled');
  expect(await run('prometheus', 'right-Pw-1')).toBe('ok');
  expect(await run('grafana', 'other-Pw-2', '10.0.0.8')).toBe('ok');
});

it('answers a known and an unknown user name alike, guess by guess (no enumeration by 401 against 429)', async () => {
  // Before issue 28 all unknown names of an address shared one count: after 30 wrong
  // guesses spread over names, a new unknown name answered 429 where a real one answered 401.
  const { run } = fixture();
  for (let i = 0; i < 30; i++) expect(await run(`ghost-${i}`, `u-${i}`)).toBe('wrong');
  expect(await run('ghost-new', 'first-guess')).toBe(await run('grafana', 'first-guess'));
  // The same guesses at one name: the same answers, known or not.
  const known: string[] = [];
  const unknown: string[] = [];
  for (let i = 0; i < 35; i++) {
    known.push(await run('grafana', `k-${i}`));
    unknown.push(await run('ghost-new', `k-${i}`));
  }
  expect(unknown).toEqual(known);
  expect(known.slice(-3)).toEqual(['throttled', 'throttled', 'throttled']);
});

it('evaluates at most the limit (and one blocked slot) of 200 different wrong passwords sent at once', async () => {
  const { run } = fixture();
  const kinds = await Promise.all(Array.from({ length: 200 }, (_, i) => run('prometheus', `at-once-${i}`)));
  const evaluated = kinds.filter((k) => k === 'wrong').length;
  expect(evaluated).toBeGreaterThan(0);
  expect(evaluated).toBeLessThanOrEqual(LIMITS.perAddressAndUser + 1);
  // The rest are refused before any bcrypt: by the limit (throttled) or by the full queue of checks (busy).
  expect(kinds.filter((k) => k === 'throttled' || k === 'busy').length).toBe(200 - evaluated);
});

it('refuses checks beyond the bounded queue at once (busy), and never counts them as guesses', async () => {
  const { run } = fixture();
  // 40 names at once from one address: 8 may wait for the worker, the rest are busy.
  const kinds = await Promise.all(Array.from({ length: 40 }, (_, i) => run(`name-${i}`, `guess-${i}`)));
  expect(kinds.filter((k) => k === 'busy').length).toBeGreaterThan(0);
  expect(kinds.every((k) => k === 'busy' || k === 'wrong')).toBe(true);
  // Another address still gets its turn, and the right password gets in.
  expect(await run('prometheus', 'right-Pw-1', '10.0.0.99')).toBe('ok');
});

it('shares one check among identical requests sent at once', async () => {
  const { run } = fixture();
  const kinds = await Promise.all([
    ...Array.from({ length: 150 }, () => run('prometheus', 'right-Pw-1')),
    ...Array.from({ length: 150 }, () => run('prometheus', 'same-wrong')),
  ]);
  expect(kinds.filter((k) => k === 'ok').length).toBe(150);
  expect(kinds.filter((k) => k === 'wrong').length).toBe(150);
});
