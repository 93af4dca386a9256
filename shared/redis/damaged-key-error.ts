/**
 * A key of the project holds a value of the wrong type (SPEC §4): a Lua script found
 * it before its first write and wrote nothing. Names the key — never its content — and
 * the fix. Callers test `instanceof` or `code`.
 */
export class DamagedKeyError extends Error {
  readonly code = 'ERR_DAMAGED_KEY';

  constructor(
    /** What the key is for ('node', 'nodes', 'credential', ...). */
    readonly role: string,
    /** The key's full name. */
    readonly key: string,
    script: string,
  ) {
    super(
      `the ${role} key ${key} holds a value of the wrong type, so ${script} wrote nothing: delete it (redis-cli DEL ${key}); the nodes put back what they hold`,
    );
    this.name = 'DamagedKeyError';
  }
}

/**
 * The reply of a script that found a damaged key — `{'damaged', <role>}`, the prelude's
 * damagedReply, the one encoding every script uses — else null.
 */
export function damagedRole(raw: unknown): string | null {
  return Array.isArray(raw) && raw[0] === 'damaged' && typeof raw[1] === 'string' ? raw[1] : null;
}

/** Redis's answer to a command on a key of another type. */
export function isWrongType(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('WRONGTYPE');
}
