import { registrationOf } from '../../shared/redis/registration';
import type { StoredCredential } from '../credentials/credential-store';

/**
 * The last `failed` verdict a node saw, kept in its local state so that a loss of
 * Redis data cannot un-fail a project (R5): the node puts it back with the rest of
 * what it holds (restore-after-loss-8.lua). A verdict is about one registration — its
 * identity, never a generation number, which an emptied Redis numbers from 1 again —
 * and a `register` (a new identity) makes it void, which is how re-registration
 * clears it on the nodes too.
 *
 * Fields are strings, as they are in the status hash, so Lua compares them as written.
 */
export interface HeldVerdict {
  since: string;
  epoch: string;
  failedAt: string;
  generation: string;
  registeredAt: string;
  /** The registration's identity; absent in a verdict held by 0.2.0 (then generation and registeredAt name it). */
  registration?: string;
}

type Identity = Pick<StoredCredential, 'generation' | 'registeredAt' | 'registration'>;

function registeredAtOf(credential: Pick<StoredCredential, 'registeredAt'>): string {
  return credential.registeredAt ? String(credential.registeredAt) : '';
}

/** True when the verdict is about this credential's registration. */
export function verdictApplies(verdict: HeldVerdict | null, credential: Identity | null): verdict is HeldVerdict {
  if (verdict === null || credential === null) return false;
  if (registrationOf(verdict.registration, verdict.generation) !== credential.registration) return false;
  // A verdict held by 0.2.0 names its registration by generation and time together.
  return Boolean(verdict.registration) || verdict.registeredAt === registeredAtOf(credential);
}

/**
 * What the node holds after reading the status hash with the credential: a `failed`
 * status about this registration becomes the held verdict; a verdict about it is kept
 * whatever the hash says now (a hash that is not `failed` for the same registration is
 * what a data loss leaves behind); a new registration voids it.
 */
export function nextVerdict(held: HeldVerdict | null, status: Record<string, string>, credential: Identity | null): HeldVerdict | null {
  if (!credential) return held;
  if (status.status === 'failed' && registrationOf(status.registration, status.generation) === credential.registration) {
    return {
      since: status.since ?? '',
      epoch: status.epoch ?? '',
      failedAt: status.failedAt ?? status.since ?? '',
      generation: status.generation ?? String(credential.generation),
      registeredAt: registeredAtOf(credential),
      registration: credential.registration,
    };
  }
  return verdictApplies(held, credential) ? held : null;
}
