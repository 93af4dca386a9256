import { catalogEntryOf } from '../view/text-tables';
import type { NodeStatusJson, StatusJson } from '../view/status-json';
import { relative } from './format';
import { esc } from './html';
import { reasonAnchor, reasonLabel } from './render-error-details';

/**
 * "First thing to do", right under the banner (issue 32: the page alarmed and then hid
 * the fix). On a degraded or failed project: the failing nodes, most failures in a row
 * first — under `any` the one with the longest streak is the nearest to its threshold,
 * so it drives the countdown and the others fail too; under `all`/`majority` the
 * countdown runs to the node that would fail last (maybe a healthy one), so each failing
 * node is named as failing — each with the reason of its streak,
 * the message and the catalog's first step (its `check`), linked to the open error
 * details; a stale node with what to look at. After a failure, the fix and then
 * `register`. Nothing on a project where no node needs anyone.
 */
const REGISTER = 'fdl-cloudauth register --account NAME --password-stdin';

function failing(status: StatusJson): NodeStatusJson[] {
  return status.nodes
    .filter((n) => n.consecutiveFailures > 0 && n.reason !== null)
    .sort((a, b) => b.consecutiveFailures - a.consecutiveFailures || a.id.localeCompare(b.id));
}

type Role = 'drives the countdown' | 'fails too' | 'is failing';

function failingItem(n: NodeStatusJson, role: Role): string {
  const reason = n.reason;
  if (reason === null) return '';
  const step = catalogEntryOf(reason).steps.check;
  return (
    `<li data-node="${esc(n.id)}"><strong>${esc(n.id)}</strong> ${role}: ${esc(n.consecutiveFailures)} ${n.consecutiveFailures === 1 ? 'failure' : 'failures'} in a row, ` +
    `<a class="reason" href="#${esc(reasonAnchor(reason))}">${esc(reasonLabel(reason))}</a> — <span class="msg">${esc(reason.message)}</span>` +
    `<div class="step">First step: ${esc(step)} <a href="#${esc(reasonAnchor(reason))}">Every step</a></div></li>`
  );
}

function staleItem(n: NodeStatusJson, now: number): string {
  const last = n.lastAttemptAt === null ? 'has never recorded an attempt' : `recorded its last attempt ${relative(n.lastAttemptAt, now)}, and none since`;
  return (
    `<li data-node="${esc(n.id)}"><strong>${esc(n.id)}</strong> ${esc(last)}: ` +
    '<div class="step">First step: check its sidecar — <code>/healthz</code>, <code>/readyz</code> and its log — and restart it if it is stuck.</div></li>'
  );
}

export function renderFirstStep(status: StatusJson, now: number): string {
  const nodes = failing(status);
  // A stale node with a streak is named once, as failing.
  const stale = status.nodes.filter((n) => n.status === 'stale' && !nodes.includes(n));
  if (nodes.length === 0 && stale.length === 0 && status.status !== 'failed') return '';
  const top = nodes[0]?.consecutiveFailures ?? 0;
  const roleOf = (n: NodeStatusJson): Role => (status.policy !== 'any' ? 'is failing' : n.consecutiveFailures === top ? 'drives the countdown' : 'fails too');
  const items = nodes.map((n) => failingItem(n, roleOf(n))).concat(stale.map((n) => staleItem(n, now)));
  const after =
    status.status === 'failed' ? `<p>The project is locked out: fix the reason, then register the project again: <code>${esc(REGISTER)}</code></p>` : '';
  return (
    `<section id="first-step" class="first-step" data-project-status="${esc(status.status)}"><h2>First thing to do</h2>` +
    (items.length > 0 ? `<ul>${items.join('')}</ul>` : '') +
    after +
    '</section>'
  );
}

/** The reasons the first step points to: their error details start open. */
export function urgentReasonAnchors(status: StatusJson): Set<string> {
  return new Set(failing(status).flatMap((n) => (n.reason ? [reasonAnchor(n.reason)] : [])));
}
