import fc from 'fast-check';

/**
 * What the fuzz and property tests need beyond fast-check itself. fast-check does the
 * random values, the seeds, the runs and the shrinking; it cannot do two things these
 * tests rely on, which live here:
 *
 * - read the seed from the environment: `fuzzParameters` passes FUZZ_SEED (an integer;
 *   a fixed constant when unset, so CI runs the same cases every time) as fast-check's
 *   `seed`, and FUZZ_PATH, when set, as its `path`. A failure prints
 *   `{ seed: <seed>, path: "<path>" }`: `FUZZ_SEED=<seed> npx jest <file>` replays the
 *   run and shrinks again; adding `FUZZ_PATH=<path>` goes straight to the shrunk case.
 * - mutate a given valid value (drop, retype, empty or add a field, at any depth):
 *   fast-check has arbitraries for new values, none for "a valid request, broken in
 *   one to three places". `mutationOf` builds that from fast-check's combinators, so
 *   it shrinks and replays like any other arbitrary.
 *
 * `nastyString` and `nastyJson` are fast-check arbitraries tuned for hostile input:
 * control characters, lone surrogates, JSON syntax, right-to-left marks and long
 * strings; keys that parsers trip on (`__proto__`, `constructor`) and the numbers that
 * are codes in the catalog.
 */
export const DEFAULT_FUZZ_SEED = 20260601;

export function fuzzSeed(): number {
  const raw = process.env.FUZZ_SEED;
  if (raw === undefined || raw === '') return DEFAULT_FUZZ_SEED;
  const seed = Number(raw);
  if (!Number.isInteger(seed)) throw new Error(`FUZZ_SEED must be an integer, got ${raw}`);
  return seed;
}

/** fast-check parameters for `numRuns` cases, seeded from FUZZ_SEED (and FUZZ_PATH). */
export function fuzzParameters<T>(numRuns: number): fc.Parameters<T> {
  const path = process.env.FUZZ_PATH;
  // The predicate's error goes into fast-check's message (not only its `cause`), next to
  // the counterexample and the seed.
  return { seed: fuzzSeed(), numRuns, includeErrorInReport: true, ...(path ? { path } : {}) };
}

const codeUnit = (min: number, max: number): fc.Arbitrary<string> => fc.integer({ min, max }).map((c) => String.fromCharCode(c));

/** One character of hostile text; a lone surrogate is a character of its own. */
const NASTY_CHAR: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'),
  fc.constantFrom(...'{}[]":,\\/ \t\n\r\u0000\u0001\u007f'),
  fc.constantFrom(...'äöü中文🙂\u202e\ud800'),
  fc.constantFrom(..."%$#@!&*()+=<>?;'`~|"),
  fc.oneof(
    codeUnit(0x00, 0x1f), // any C0 control character
    codeUnit(0xd800, 0xdfff), // any lone surrogate
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), // any code point
  ),
);

/** Hostile text: up to `maxLength` characters, one time in twenty 200–3,000. */
export function nastyString(maxLength = 24): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 19, arbitrary: fc.string({ unit: NASTY_CHAR, maxLength, size: 'max' }) },
    { weight: 1, arbitrary: fc.string({ unit: NASTY_CHAR, minLength: 200, maxLength: 3000, size: 'max' }) },
  );
}

const NASTY_INT = fc.oneof(
  { weight: 9, arbitrary: fc.constantFrom(0, -1, 1, 2 ** 31, -(2 ** 53), Number.MAX_SAFE_INTEGER, 30003, 10000, 49999) },
  { weight: 1, arbitrary: fc.integer({ min: -100_000, max: 100_000 }) },
  { weight: 1, arbitrary: fc.maxSafeInteger() },
);

const NASTY_FLOAT = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(0.5, -0, 1e308, -1e-308) },
  { weight: 1, arbitrary: fc.double({ min: 0, max: 1e6, noNaN: true }) },
  { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
);

const NASTY_KEY = fc.oneof(fc.constantFrom('code', 'name', 'message', 'data', '__proto__', 'constructor'), nastyString(8));

const jsonByDepth = new Map<number, fc.Arbitrary<unknown>>();

/**
 * Any JSON value (finite numbers, no undefined) nested up to `depth`: objects of up to
 * five keys, arrays of up to four items. A `__proto__` key is an own property, so
 * `JSON.stringify` writes it.
 */
export function nastyJson(depth = 3): fc.Arbitrary<unknown> {
  const cached = jsonByDepth.get(depth);
  if (cached) return cached;
  const leaves: Array<fc.Arbitrary<unknown>> = [fc.constant(null), fc.boolean(), NASTY_INT, NASTY_FLOAT, nastyString()];
  const arb =
    depth <= 0
      ? fc.oneof(...leaves)
      : fc.oneof(...leaves, fc.array(nastyJson(depth - 1), { maxLength: 4 }), fc.dictionary(NASTY_KEY, nastyJson(depth - 1), { maxKeys: 5 }));
  jsonByDepth.set(depth, arb);
  return arb;
}

/** A copy of `o` with `key` set to `value` as an own property (also `__proto__`). */
function withKey(o: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  const copy = { ...o };
  Object.defineProperty(copy, key, { value, enumerable: true, writable: true, configurable: true });
  return copy;
}

function without(o: Record<string, unknown>, key: string): Record<string, unknown> {
  const copy = { ...o };
  delete copy[key];
  return copy;
}

/** One change somewhere in `value`, at most four levels down. */
function mutateOnce(value: unknown, depth: number): fc.Arbitrary<unknown> {
  if (value === null || typeof value !== 'object' || depth > 4) return fc.oneof(nastyJson(1), fc.constant(value));
  if (Array.isArray(value)) {
    const append = nastyJson(1).map((item) => [...value, item]);
    if (value.length === 0) return append;
    const deeper = fc.nat({ max: value.length - 1 }).chain((i) =>
      mutateOnce(value[i], depth + 1).map((item) => {
        const copy = [...value];
        copy[i] = item;
        return copy;
      }),
    );
    return fc.oneof({ weight: 3, arbitrary: append }, { weight: 7, arbitrary: deeper });
  }
  const o = value as Record<string, unknown>;
  const add = fc.tuple(fc.oneof(fc.constantFrom('extra', 'code'), nastyString(10)), nastyJson(2)).map(([key, v]) => withKey(o, key, v));
  const keys = Object.keys(o);
  if (keys.length === 0) return add;
  return fc.constantFrom(...keys).chain((key) =>
    fc.oneof(
      fc.constant(without(o, key)), // drop
      nastyJson(2).map((v) => withKey(o, key, v)), // retype
      mutateOnce(o[key], depth + 1).map((v) => withKey(o, key, v)), // deeper
      add,
      fc.constantFrom<unknown>('', 0, [], {}, null).map((v) => withKey(o, key, structuredClone(v))), // empty
    ),
  );
}

function mutateTimes(value: unknown, times: number): fc.Arbitrary<unknown> {
  return times === 0 ? fc.constant(value) : mutateOnce(value, 0).chain((next) => mutateTimes(next, times - 1));
}

/** `value` changed in one to three places (a field dropped, retyped, emptied or added, at any depth); `value` itself is left alone. */
export function mutationOf(value: unknown): fc.Arbitrary<unknown> {
  return fc.integer({ min: 1, max: 3 }).chain((times) => mutateTimes(value, times));
}
