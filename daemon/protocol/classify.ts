import { byCode, CONNECTION_FAILED, INCORRECT_LICENSE_FORMAT } from '../../shared/catalog';
import type { RawAnswer } from './auth-client';
import { stripControls } from '../../shared/text';

/**
 * Turns whatever came back from the authorization server into an outcome with a
 * catalog reason (SPEC R7, §4). Nothing here throws: malformed, truncated, oversized,
 * slow or unreachable answers all become a reason that is recorded like any other.
 */

export interface License {
  expiresAt: number | null;
  capacity: number | null;
  bound: number | null;
}

export type Outcome =
  | { ok: true; license: License }
  | {
      ok: false;
      /** Numeric code; the raw code for unknown codes; null when there is none. */
      code: number | null;
      name: string;
      message: string;
      /** Retried inside the attempt (SPEC R2). */
      transient: boolean;
    };

const MAX_MESSAGE = 300;

function clean(text: unknown): string {
  return typeof text === 'string' ? stripControls(text).slice(0, MAX_MESSAGE) : '';
}

function timeOf(value: unknown): number | null {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string') {
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? null : ms;
  }
  return null;
}

function countOf(value: unknown): number | null {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : null;
}

function connectionFailed(message: string): Outcome {
  return { ok: false, code: null, name: CONNECTION_FAILED.name, message, transient: true };
}

function badFormat(message: string, code: number | null = null): Outcome {
  return { ok: false, code, name: INCORRECT_LICENSE_FORMAT.name, message, transient: false };
}

export function classify(answer: RawAnswer): Outcome {
  switch (answer.kind) {
    case 'network':
      return connectionFailed(answer.detail);
    case 'too-large':
      return badFormat(`answer larger than 64 KiB (HTTP ${answer.status}) was refused`);
    case 'unparseable':
      if (answer.status >= 500) return connectionFailed(`authorization server answered HTTP ${answer.status} (${answer.detail})`);
      return badFormat(`malformed answer (HTTP ${answer.status}, ${answer.detail})`);
    case 'answer':
      break;
  }
  if (answer.status >= 500) return connectionFailed(`authorization server answered HTTP ${answer.status}`);
  const body = answer.body as { code?: unknown; message?: unknown; data?: unknown } | null;
  if (!body || typeof body !== 'object' || typeof body.code !== 'number' || !Number.isInteger(body.code)) {
    return badFormat(`answer without a numeric code (HTTP ${answer.status})`);
  }
  if (body.code === 0) {
    const data = (body.data && typeof body.data === 'object' ? body.data : {}) as Record<string, unknown>;
    return { ok: true, license: { expiresAt: timeOf(data.licenseExpiresAt), capacity: countOf(data.capacity), bound: countOf(data.bound) } };
  }
  const entry = byCode(body.code);
  if (entry === INCORRECT_LICENSE_FORMAT) {
    return badFormat(clean(body.message) || `unknown code ${body.code}`, body.code);
  }
  return { ok: false, code: body.code, name: entry.name, message: clean(body.message) || entry.definition, transient: entry.transient };
}
