/**
 * Small, seeded fuzzing toolkit: a deterministic PRNG (mulberry32), random JSON
 * values, and mutations of a valid value (drop, retype or add a field, deep). The seed
 * comes from FUZZ_SEED, else a fixed constant, so CI runs the same cases every time and
 * a failure names the seed that reproduces it: `FUZZ_SEED=<seed> npx jest <file>`.
 */
export const DEFAULT_FUZZ_SEED = 20260601;

export function fuzzSeed(): number {
  const raw = process.env.FUZZ_SEED;
  if (raw === undefined || raw === '') return DEFAULT_FUZZ_SEED;
  const seed = Number(raw);
  if (!Number.isInteger(seed)) throw new Error(`FUZZ_SEED must be an integer, got ${raw}`);
  return seed;
}

export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }

  string(maxLength = 24): string {
    const alphabets = [
      'abcdefghijklmnopqrstuvwxyz0123456789',
      '{}[]":,\\/ \t\n\r\u0000\u0001\u007f',
      'äöü中文🙂\u202e\ud800',
      '%$#@!&*()+=<>?;\'`~|',
    ];
    const length = this.chance(0.05) ? this.int(200, 3000) : this.int(0, maxLength);
    let out = '';
    for (let i = 0; i < length; i++) out += this.pick([...this.pick(alphabets)]);
    return out;
  }

  /** Any JSON value, nested up to `depth`. */
  json(depth = 3): unknown {
    const kinds = depth <= 0 ? ['null', 'bool', 'int', 'float', 'string'] : ['null', 'bool', 'int', 'float', 'string', 'array', 'object'];
    switch (this.pick(kinds)) {
      case 'null':
        return null;
      case 'bool':
        return this.chance(0.5);
      case 'int':
        return this.pick([0, -1, 1, 2 ** 31, -(2 ** 53), Number.MAX_SAFE_INTEGER, this.int(-100000, 100000), 30003, 10000, 49999]);
      case 'float':
        return this.pick([0.5, -0.0, 1e308, -1e-308, this.next() * 1e6]);
      case 'string':
        return this.string();
      case 'array':
        return Array.from({ length: this.int(0, 4) }, () => this.json(depth - 1));
      default: {
        const o: Record<string, unknown> = {};
        for (let i = this.int(0, 5); i > 0; i--) o[this.pick(['code', 'name', 'message', 'data', '__proto__', 'constructor', this.string(8)])] = this.json(depth - 1);
        return o;
      }
    }
  }

  /** A mutation of `value`: one to three changes at random depths. */
  mutate(value: unknown): unknown {
    let out = structuredClone(value);
    for (let n = this.int(1, 3); n > 0; n--) out = this.mutateOnce(out, 0);
    return out;
  }

  private mutateOnce(value: unknown, depth: number): unknown {
    if (value === null || typeof value !== 'object' || depth > 4) return this.chance(0.5) ? this.json(1) : value;
    if (Array.isArray(value)) {
      if (value.length === 0 || this.chance(0.3)) return [...value, this.json(1)];
      const i = this.int(0, value.length - 1);
      const copy = [...value];
      copy[i] = this.mutateOnce(copy[i], depth + 1);
      return copy;
    }
    const o = { ...(value as Record<string, unknown>) };
    const keys = Object.keys(o);
    const action = keys.length === 0 ? 'add' : this.pick(['drop', 'retype', 'deeper', 'add', 'empty']);
    const key = this.pick(keys.length ? keys : ['x']);
    switch (action) {
      case 'drop':
        delete o[key];
        break;
      case 'retype':
        o[key] = this.json(2);
        break;
      case 'deeper':
        o[key] = this.mutateOnce(o[key], depth + 1);
        break;
      case 'empty':
        o[key] = this.pick(['', 0, [], {}, null]);
        break;
      default:
        o[this.pick(['extra', 'code', this.string(10)])] = this.json(2);
    }
    return o;
  }
}

/** Runs `check` and, when it throws, rethrows with the seed and the case that failed. */
export function withCase<T>(seed: number, index: number, input: unknown, check: () => T): T {
  try {
    return check();
  } catch (error) {
    let shown: string;
    try {
      shown = JSON.stringify(input)?.slice(0, 2000) ?? String(input);
    } catch {
      shown = String(input);
    }
    throw new Error(`fuzz case ${index} failed (reproduce with FUZZ_SEED=${seed}): ${(error as Error).message}\ninput: ${shown}`);
  }
}
