import type { NodeStatusJson, ReasonJson } from '../view/status-json';
import { relative, utc } from './format';
import { anchorId, esc } from './html';
import { reasonLink } from './render-error-details';

/**
 * The node list: status, consecutive failures, the reason of the streak's first
 * failure and the latest one (with its message, escaped: it came from the
 * authorization server), last attempt and last success. Stale nodes are marked —
 * their sidecar stopped reporting, which is not a failure but is not good news.
 */
function when(iso: string | null, now: number): string {
  if (iso === null) return '<span class="muted">never</span>';
  return `<time datetime="${esc(iso)}" title="${esc(utc(iso))}">${esc(relative(iso, now))}</time>`;
}

function reasonCell(reason: ReasonJson | null): string {
  if (reason === null) return reasonLink(null);
  return `${reasonLink(reason)}<div class="msg">${esc(reason.message)}</div><div class="muted">${esc(utc(reason.at))}</div>`;
}

function row(n: NodeStatusJson, now: number): string {
  const stale = n.status === 'stale' ? ' <span class="muted">(no attempt recorded for 1.5 intervals: its sidecar is down or stuck)</span>' : '';
  return (
    `<tr id="${esc(anchorId('node', n.id))}" data-node="${esc(n.id)}" data-status="${esc(n.status)}"${n.status === 'stale' ? ' class="stale"' : ''}>` +
    `<td><strong>${esc(n.id)}</strong></td>` +
    `<td><span class="badge ${esc(n.status)}">${esc(n.status)}</span>${stale}</td>` +
    `<td class="num">${esc(n.consecutiveFailures)}</td>` +
    `<td>${reasonCell(n.reason)}</td>` +
    `<td>${reasonCell(n.latestReason)}</td>` +
    `<td>${when(n.lastAttemptAt, now)}</td>` +
    `<td>${when(n.lastSuccessAt, now)}</td>` +
    '</tr>'
  );
}

export function renderNodes(nodes: readonly NodeStatusJson[], now: number): string {
  if (nodes.length === 0) return '<section id="nodes"><h2>Nodes</h2><p class="muted">No node has reported yet.</p></section>';
  return (
    `<section id="nodes"><h2>Nodes (${nodes.length})</h2><div class="scroll"><table>` +
    '<thead><tr><th>Node</th><th>Status</th><th>Failures in a row</th><th>Reason (first of the streak)</th><th>Latest reason</th><th>Last attempt</th><th>Last success</th></tr></thead>' +
    `<tbody>${nodes.map((n) => row(n, now)).join('')}</tbody></table></div></section>`
  );
}
