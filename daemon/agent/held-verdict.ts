import type { CachedCredential } from './local-state';

/**
 * The last `failed` verdict a node saw, kept in its local state so that a loss of
 * Redis data cannot un-fail a project (R5): the node puts it back with the rest of
 * what it holds (restore-after-loss-8.lua). A verdict is about one registration — the
 * credential's generation and registeredAt — and a `register` (new credential) makes
 * it void, which is how re-registration clears it on the nodes too.
 *
 * Fields are strings, as they are in the status hash, so Lua compares them as written.
 */
export interface HeldVerdict {
  since: string;
  epoch: string;
  failedAt: string;
  generation: string;
  registeredAt: string;
}

function registeredAtOf(credential: Pick<CachedCredential, 'registeredAt'>): string {
  return credential.registeredAt ? String(credential.registeredAt) : '';
}

/** True when the verdict is about this credential (the same registration). */
export function verdictApplies(verdict: HeldVerdict | null, credential: Pick<CachedCredential, 'generation' | 'registeredAt'> | null): verdict is HeldVerdict {
  return verdict !== null && credential !== null && verdict.generation === String(credential.generation) && verdict.registeredAt === registeredAtOf(credential);
}

/**
 * What the node holds after reading the status hash with the credential: a `failed`
 * status about this credential becomes the held verdict; a verdict about this
 * credential is kept whatever the hash says now (a hash that is not `failed` for the
 * same registration is what a data loss leaves behind); a new credential voids it.
 */
export function nextVerdict(held: HeldVerdict | null, status: Record<string, string>, credential: CachedCredential | null): HeldVerdict | null {
  if (!credential) return held;
  if (status.status === 'failed' && status.generation === String(credential.generation)) {
    return {
      since: status.since ?? '',
      epoch: status.epoch ?? '',
      failedAt: status.failedAt ?? status.since ?? '',
      generation: status.generation,
      registeredAt: registeredAtOf(credential),
    };
  }
  return verdictApplies(held, credential) ? held : null;
}
