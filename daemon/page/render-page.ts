import type { StatusJson } from '../view/status-json';
import { utc } from './format';
import { esc } from './html';
import type { PageDetails } from './page-details';
import { PAGE_SCRIPT } from './page-script';
import { PAGE_STYLE } from './page-style';
import { renderBanner } from './render-banner';
import { renderErrorDetails, type ShownReason } from './render-error-details';
import { renderFirstStep, urgentReasonAnchors } from './render-first-step';
import { renderHistory } from './render-history';
import { renderNodes } from './render-nodes';
import { renderTimelines } from './render-timeline';

/**
 * The Registration page (SPEC §8 `GET /`): what FineDataLink's Registration Management
 * shows, for the whole cluster. Rendered from the status object `/status` serves and
 * the details read beside it; read-only, and nothing secret is in either (the status
 * carries the account's public fields only, never the password or the credential).
 */
const REFRESH_MIN_MS = 2000;
const REFRESH_MAX_MS = 15_000;

/** Refresh at most every 15 s, but no slower than the heartbeat of a short-interval demo. */
export function refreshMs(intervalMs: number): number {
  return Math.min(REFRESH_MAX_MS, Math.max(REFRESH_MIN_MS, intervalMs));
}

function shell(title: string, refresh: number, main: string): string {
  return (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<title>${esc(title)}</title>` +
    // An empty icon: the browser would otherwise ask for /favicon.ico.
    '<link rel="icon" href="data:,">' +
    `<noscript><meta http-equiv="refresh" content="${Math.ceil(refresh / 1000)}"></noscript>` +
    `<style>${PAGE_STYLE}</style></head>` +
    `<body data-refresh-ms="${refresh}"><main>${main}</main><script>${PAGE_SCRIPT}</script></body></html>`
  );
}

function shownReasons(status: StatusJson, details: PageDetails): ShownReason[] {
  const out: ShownReason[] = [];
  for (const n of status.nodes) {
    if (n.reason) out.push(n.reason);
    if (n.latestReason) out.push(n.latestReason);
  }
  return out.concat(details.failures.entries);
}

export function renderPage(status: StatusJson, details: PageDetails): string {
  const main =
    renderBanner(status, details.now) +
    renderFirstStep(status, details.now) +
    renderNodes(status.nodes, details.now) +
    renderErrorDetails(shownReasons(status, details), urgentReasonAnchors(status)) +
    renderTimelines(details.timelines, details.intervalMs) +
    renderHistory(
      details.failures,
      status.nodes.map((n) => n.id),
    ) +
    `<footer>Read from Redis at <time datetime="${esc(new Date(details.now).toISOString())}">${esc(utc(details.now))}</time>; ` +
    'refreshes by itself. The same data as <a href="/status">/status</a> (JSON) and <code>fdl-cloudauth status</code>; metrics at <a href="/metrics">/metrics</a>.</footer>';
  return shell(`${status.status} — ${status.project} — fdl-cloudauth`, refreshMs(details.intervalMs), main);
}

/** The page when it cannot be built (Redis away, a bad query): says why and keeps refreshing. */
export function renderProblemPage(title: string, problem: string, intervalMs: number): string {
  return shell(
    `${title} — fdl-cloudauth`,
    refreshMs(intervalMs),
    `<section class="banner" id="banner" data-project-status="unavailable"><h1>${esc(title)}</h1><p>${esc(problem)}</p></section>` +
      '<p><a href="/">Back to the Registration page</a></p>',
  );
}
