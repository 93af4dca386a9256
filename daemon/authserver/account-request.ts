import semver from 'semver';
import { ACCOUNT_NAME, type AccountSettings, type AccountStatus } from './account-store';
import { parseCidr } from './ip-range';
import type { Parsed } from './protocol-request';

/**
 * Validation of `POST /admin/accounts` (SPEC §5). Every wrong field is named in one
 * 400 answer. Unknown fields are refused: in an admin call a misspelt allow-list
 * (`allowedIP`) would otherwise silently mean "any IP".
 */
export interface AccountRequest extends AccountSettings {
  /** null: omitted, which keeps an existing account's password (refused for a new one by the store). */
  readonly password: string | null;
}

const KNOWN = new Set(['account', 'password', 'capacity', 'expiresAt', 'status', 'allowedIps', 'allowedDomains', 'allowedAppNames', 'allowedVersions']);
const HOST = /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,62})?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62})?)*\.?$/;
const MAX_CAPACITY = 100_000;
const MAX_LIST = 1000;

function stringList(value: unknown, field: string, problems: string[], check: (item: string) => string | undefined): string[] | null {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value)) {
    problems.push(`${field} must be an array of strings (omit it to allow any)`);
    return null;
  }
  if (value.length === 0) {
    problems.push(`${field} is empty, which would allow nothing: omit it to allow any`);
    return null;
  }
  if (value.length > MAX_LIST) {
    problems.push(`${field} has more than ${MAX_LIST} entries`);
    return null;
  }
  const out: string[] = [];
  value.forEach((item, index) => {
    if (typeof item !== 'string' || item.length === 0 || item.length > 253) {
      problems.push(`${field}[${index}] must be a non-empty string of at most 253 characters`);
      return;
    }
    const reason = check(item);
    if (reason) problems.push(`${field}[${index}] ${reason}`);
    else out.push(item);
  });
  return out;
}

export function parseAccountRequest(body: unknown): Parsed<AccountRequest> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, problems: ['the request must be a JSON object'] };
  const b = body as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of Object.keys(b)) {
    if (!KNOWN.has(key)) problems.push(`${key} is not a known field (known: ${[...KNOWN].join(', ')})`);
  }

  const account = typeof b.account === 'string' ? b.account : '';
  if (typeof b.account !== 'string') problems.push('account is required: a string');
  else if (!ACCOUNT_NAME.test(account)) problems.push('account must be 1-64 letters, digits, ".", "_", "-" or "@"');

  // Omitted on an existing account: its password is kept (changing an allow-list needs
  // no password); the store refuses to create an account without one.
  const password = typeof b.password === 'string' ? b.password : null;
  if (b.password !== undefined && typeof b.password !== 'string') problems.push('password must be a string (omit it to keep the stored one)');
  else if (password !== null && (password.length === 0 || password.length > 256)) problems.push('password must be 1-256 characters');

  let capacity = 1;
  if (b.capacity !== undefined) {
    if (typeof b.capacity !== 'number' || !Number.isInteger(b.capacity) || b.capacity < 0 || b.capacity > MAX_CAPACITY) {
      problems.push(`capacity must be a whole number from 0 to ${MAX_CAPACITY} (omit it for 1)`);
    } else capacity = b.capacity;
  }

  let expiresAtMs = 0;
  if (typeof b.expiresAt !== 'string' || !/^\d{4}-\d{2}-\d{2}T/.test(b.expiresAt) || Number.isNaN(Date.parse(b.expiresAt))) {
    problems.push('expiresAt is required: an ISO 8601 time such as 2027-01-01T00:00:00Z');
  } else expiresAtMs = Date.parse(b.expiresAt);

  let status: AccountStatus = 'active';
  if (b.status !== undefined) {
    if (b.status !== 'active' && b.status !== 'disabled') problems.push('status must be "active" or "disabled"');
    else status = b.status;
  }

  const allowedIps = stringList(b.allowedIps, 'allowedIps', problems, (item) => {
    try {
      parseCidr(item);
      return undefined;
    } catch (error) {
      return (error as Error).message;
    }
  });
  const allowedDomains = stringList(b.allowedDomains, 'allowedDomains', problems, (item) =>
    HOST.test(item) ? undefined : 'must be a host name (app.example.com) or a wildcard (*.example.com)',
  );
  const allowedAppNames = stringList(b.allowedAppNames, 'allowedAppNames', problems, () => undefined);

  let allowedVersions: string | null = null;
  if (b.allowedVersions !== undefined && b.allowedVersions !== null) {
    if (typeof b.allowedVersions !== 'string' || b.allowedVersions.trim() === '' || semver.validRange(b.allowedVersions) === null) {
      problems.push('allowedVersions must be a semver range such as ">=4.0.0 <5.0.0" or "4.1.x" (omit it to allow any)');
    } else allowedVersions = b.allowedVersions;
  }

  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, value: { account, password, capacity, expiresAtMs, status, allowedIps, allowedDomains, allowedAppNames, allowedVersions } };
}
