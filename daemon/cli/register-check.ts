import { randomBytes } from 'node:crypto';
import { byCode, byName, Codes, INCORRECT_LICENSE_FORMAT, type CatalogEntry } from '../../shared/catalog';
import type { Config } from '../../shared/config/compile';
import { ATTEMPT_BUDGET_MS, authenticate } from '../agent/authenticate';
import { AuthClient } from '../protocol/auth-client';
import type { Outcome } from '../protocol/classify';

/**
 * `register`'s check before it stores (issue 32): one authentication of the account and
 * password with the authorization server, as this node (node.id, node.ip, node.domain,
 * node.appName, product.version), the same call a heartbeat makes (protocol v1: the
 * first success binds the node). FDL's own "Register Now" checks before it saves; a
 * password stored unchecked would fail every node with 30006 and, after 10 wrong
 * passwords in 15 minutes, get the account blocked — the right password included.
 *
 * What the check costs on the server: a success binds this node (a slot of the
 * account's capacity, the one its sidecar takes anyway; run elsewhere, the slot of
 * node.id there, freed by `unbind` or after 24 h without success); a wrong password is
 * one of the 10 the server tolerates per account in 15 minutes. Transient failures are
 * retried as in an attempt (heartbeat.retries, bounded by authServer.timeout).
 */

export interface RegisterCheck {
  /** The outcome of the last try (a refusal or the license). */
  readonly outcome: Outcome;
  /** The request id the server saw: `register-<hex>`, for its logs. */
  readonly requestId: string;
}

type CheckConfig = Pick<Config, 'project' | 'node' | 'product' | 'authServer' | 'heartbeat'>;

export async function checkWithServer(cfg: CheckConfig, account: string, password: string): Promise<RegisterCheck> {
  const client = new AuthClient(cfg.authServer);
  const requestId = `register-${randomBytes(6).toString('hex')}`;
  try {
    const { outcome } = await authenticate(
      client,
      { account, password, project: cfg.project, node: { ...cfg.node }, version: cfg.product.version, requestId },
      {
        retries: cfg.heartbeat.retries,
        backoffMs: 1000,
        // Each try is bounded by authServer.timeout; the retries by one timeout each more.
        budgetMs: Math.min(ATTEMPT_BUDGET_MS, cfg.authServer.timeoutMs * (cfg.heartbeat.retries + 2)),
      },
    );
    return { outcome, requestId };
  } finally {
    await client.close();
  }
}

/** The catalog entry of a refusal: its code's, or its name's (CONNECTION_FAILED), else the unknown code's. */
export function catalogEntryOf(outcome: Extract<Outcome, { ok: false }>): CatalogEntry {
  if (outcome.code !== null) return byCode(outcome.code);
  return byName(outcome.name) ?? INCORRECT_LICENSE_FORMAT;
}

/**
 * What an operator reads when the server refused: the reason, what this node sent that
 * the license checks (never the password), the catalog's steps, and that nothing was
 * stored. A transient reason (the server not reachable) names --no-verify.
 */
export function describeRefusal(cfg: CheckConfig, account: string, check: RegisterCheck & { outcome: Extract<Outcome, { ok: false }> }): string {
  const { outcome } = check;
  const entry = catalogEntryOf(outcome);
  const code = outcome.code === null ? '' : `${outcome.code} `;
  const node = cfg.node;
  const lines = [
    `register refused: the authorization server did not accept account ${account} for node ${node.id}: ${code}${outcome.name} — ${entry.definition}`,
    `  server said: ${outcome.message || '(no message)'}`,
    `  sent as: project ${cfg.project}, node ${node.id} (node.ip ${node.ip}, node.domain ${node.domain}, node.appName ${node.appName}), product.version ${cfg.product.version}, request ${check.requestId}`,
    `  check: ${entry.steps.check}`,
    `  change: ${entry.steps.change}`,
    `  contact: ${entry.steps.contact}`,
    'nothing was stored: the project keeps its previous credential, if it had one.',
  ];
  if (outcome.code === Codes.ACCOUNT_INPUT_ERROR) {
    lines.push(
      'Each wrong password counts on the server: after 10 in 15 minutes it refuses the account, the right password included, until the window passes.',
    );
  }
  if (outcome.transient) {
    lines.push(
      'If this site registers before its firewall lets it reach the server, `register --no-verify` stores the password unchecked ' +
        '(the sidecars then find out at their first attempt).',
    );
  }
  return `${lines.join('\n')}\n`;
}
