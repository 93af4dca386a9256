import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { packageRoot } from '../package-root';
import type { RedisClient } from './connection';

/**
 * A Lua script kept in its own file, with a typed wrapper: its KEYS and ARGV by name,
 * in the order the file's header lists them, and a decoder that turns the raw reply
 * into a typed result (or throws LuaReplyError), so no call site casts `unknown`.
 *
 * One convention for what is a KEY: every key the script reads, writes or publishes to
 * — the events channel included — is passed in KEYS, so a Redis Cluster routes the
 * call by all of them and ARGV carries only values. The one exception is a key prefix
 * for keys the script can only name from data it reads (register resets each node's
 * record): those keys share the project's hash tag, so they live in the same slot.
 *
 * Every script starts with shared/redis/lua/prelude.lua: the integer check, Redis time
 * in ms, the registration identity, the key-type check and the one reply for a damaged
 * key (`{'damaged', <role>}`, decoded with damagedRole) are written once, not once a
 * script.
 *
 * The file name ends with the number of keys it takes (`record-attempt-7.lua`); the
 * constructor checks that the file's header lists exactly the KEYS and ARGV the
 * definition names, so a script and its wrapper cannot drift apart unnoticed. Called
 * with EVALSHA and loaded with EVAL on NOSCRIPT, so a Redis restart or failover costs
 * one extra round trip, not an error.
 */

export interface LuaScriptDefinition<K extends string, A extends string, R> {
  /** Path from the package root. */
  file: string;
  /** KEYS, in order. */
  keys: readonly K[];
  /** ARGV, in order. */
  args: readonly A[];
  /** Values after the named ARGV (the header lists them as `ARGV[n..]`). */
  variadic?: boolean;
  /** Checks the raw reply's shape and turns it into the script's result. */
  reply(raw: unknown, check: ReplyCheck): R;
}

export type ScriptValue = string | number;

/** A reply of the wrong shape: says which script and what was expected, never the reply's values. */
export class LuaReplyError extends Error {
  constructor(file: string, expected: string) {
    super(`${file} answered a reply of an unexpected shape (expected ${expected}): is the script in Redis a different version?`);
    this.name = 'LuaReplyError';
  }
}

/** Shape checks for reply decoders; each throws LuaReplyError naming the script. */
export class ReplyCheck {
  constructor(private readonly file: string) {}

  fail(expected: string): never {
    throw new LuaReplyError(this.file, expected);
  }

  integer(raw: unknown): number {
    if (typeof raw === 'number' && Number.isInteger(raw)) return raw;
    return this.fail('an integer');
  }

  list(raw: unknown, minLength = 0): unknown[] {
    if (Array.isArray(raw) && raw.length >= minLength) return raw;
    return this.fail(`a list of at least ${minLength}`);
  }

  /** One of `values` (a state, the role of a damaged key the script checks). */
  oneOf<T extends string>(raw: unknown, values: readonly T[]): T {
    const found = values.find((v) => v === raw);
    return found ?? this.fail(`one of ${values.join(', ')}`);
  }

  strings(raw: unknown): string[] {
    const list = this.list(raw);
    if (list.every((v) => typeof v === 'string')) return list as string[];
    return this.fail('a list of strings');
  }

  /** An integer or a string of digits (Lua numbers that went through tostring). */
  numeric(raw: unknown): number {
    if (typeof raw === 'number' && Number.isFinite(raw)) return raw;
    if (typeof raw === 'string' && raw.trim() !== '' && Number.isFinite(Number(raw))) return Number(raw);
    return this.fail('a number');
  }

  /** Flat [field, value, ...] list as a record. */
  fields(raw: unknown): Record<string, string> {
    const list = this.strings(raw);
    if (list.length % 2 !== 0) return this.fail('a list of field-value pairs');
    const out: Record<string, string> = {};
    for (let i = 0; i < list.length; i += 2) out[list[i] as string] = list[i + 1] as string;
    return out;
  }
}

const PRELUDE_FILE = 'shared/redis/lua/prelude.lua';
let preludeText: string | undefined;

/** shared/redis/lua/prelude.lua: functions every script uses (read once). */
function prelude(): string {
  preludeText ??= readFileSync(path.join(packageRoot(), PRELUDE_FILE), 'utf8');
  return preludeText;
}

export class LuaScript<K extends string, A extends string, R> {
  readonly lua: string;
  readonly sha: string;
  private readonly check: ReplyCheck;

  constructor(readonly definition: LuaScriptDefinition<K, A, R>) {
    const { file } = definition;
    const text = readFileSync(path.join(packageRoot(), file), 'utf8');
    // The prelude's rules (integers, Redis time, registration identity) come first, so every script applies them alike.
    this.lua = `${prelude()}\n${text}`;
    this.sha = createHash('sha1').update(this.lua).digest('hex');
    this.check = new ReplyCheck(file);
    const problems = headerProblems(text, definition);
    const match = /-(\d+)\.lua$/.exec(file);
    if (!match) problems.push('its file name must end with -<number of keys>.lua');
    else if (Number(match[1]) !== definition.keys.length) problems.push(`its file name says ${match[1]} keys, the wrapper names ${definition.keys.length}`);
    if (problems.length > 0) throw new Error(`Lua script ${file} does not match its wrapper: ${problems.join('; ')}`);
  }

  get file(): string {
    return this.definition.file;
  }

  async run(redis: RedisClient, keys: Readonly<Record<K, string>>, args: Readonly<Record<A, ScriptValue>>, rest: readonly ScriptValue[] = []): Promise<R> {
    if (rest.length > 0 && !this.definition.variadic) throw new Error(`${this.file} takes no values after its named ARGV`);
    const keyList = this.definition.keys.map((k) => keys[k]);
    const argList = [...this.definition.args.map((a) => args[a]), ...rest];
    return this.definition.reply(await this.evaluate(redis, keyList, argList), this.check);
  }

  private async evaluate(redis: RedisClient, keys: string[], args: ScriptValue[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (error instanceof Error && error.message.includes('NOSCRIPT')) return redis.eval(this.lua, keys.length, ...keys, ...args);
      throw error;
    }
  }
}

/** The header (the leading --[[ ]] comment) must list KEYS[1..n] and ARGV[1..m] (or ARGV[m..]) exactly. */
function headerProblems(lua: string, definition: LuaScriptDefinition<string, string, unknown>): string[] {
  const header = /^--\[\[([\s\S]*?)\]\]/.exec(lua)?.[1];
  if (header === undefined) return ['it has no --[[ header ]] listing its KEYS and ARGV'];
  const indexes = (pattern: RegExp) => [...header.matchAll(pattern)].map((m) => Number(m[1]));
  const keyIndexes = new Set(indexes(/KEYS\[(\d+)\]/g));
  const argIndexes = new Set(indexes(/ARGV\[(\d+)\]/g));
  const variadicFrom = indexes(/ARGV\[(\d+)\.\.\]/g)[0];
  const problems: string[] = [];
  const expectRange = (found: Set<number>, count: number, what: string) => {
    const wanted = Array.from({ length: count }, (_, i) => i + 1);
    if (found.size !== count || wanted.some((i) => !found.has(i)))
      problems.push(`its header lists ${what} ${[...found].sort((a, b) => a - b).join(',') || 'none'}, the wrapper names ${count}`);
  };
  expectRange(keyIndexes, definition.keys.length, 'KEYS');
  expectRange(argIndexes, definition.args.length, 'ARGV');
  if (definition.variadic && variadicFrom !== definition.args.length + 1)
    problems.push(`its header must list ARGV[${definition.args.length + 1}..] for the values after the named ones`);
  if (!definition.variadic && variadicFrom !== undefined) problems.push('its header lists variadic ARGV the wrapper does not pass');
  return problems;
}
