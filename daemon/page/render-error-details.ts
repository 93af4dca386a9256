import { INCORRECT_LICENSE_FORMAT } from '../../shared/catalog';
import { catalogEntryOf } from '../view/text-tables';
import { anchorId, esc } from './html';

/**
 * "View Error Details", as FineDataLink's Registration Management offers it: for each
 * reason shown on the page, the catalog's definition and its check / change / contact
 * steps — the same text as `failures --details` and the runbook, from shared/catalog.ts.
 * One block per reason (not per row), so a hundred nodes failing for one reason add
 * one block; rows link to it.
 */
/**
 * The runbook, as this very sidecar serves it (`GET /runbook`, daemon/page/runbook-page.ts):
 * it opens wherever the page opens, air-gapped sites included, and matches the running
 * version. Each reason code has a section there.
 */
export const RUNBOOK_URL = '/runbook';

export interface ShownReason {
  code: number | null;
  name: string;
}

/** The anchor of a reason's details: the numeric code when there is one, else the name. */
export function reasonAnchor(reason: ShownReason): string {
  return anchorId('error', reason.code === null ? reason.name : String(reason.code));
}

export function reasonLabel(reason: ShownReason): string {
  return reason.code === null ? reason.name : `${reason.code} ${reason.name}`;
}

/** The reason as a cell, linked to its details: code and name, or `text` where the code has a column of its own. */
export function reasonLink(reason: ShownReason | null, text?: string): string {
  if (reason === null) return '<span class="muted">–</span>';
  return `<a class="reason" href="#${esc(reasonAnchor(reason))}" title="View Error Details">${esc(text ?? reasonLabel(reason))}</a>`;
}

/** The runbook section of a catalog entry: its heading is "30003 LICENSE_IP_ERROR", or the bare name. */
export function runbookHref(entry: ShownReason): string {
  return `${RUNBOOK_URL}#${reasonLabel(entry)
    .toLowerCase()
    .replace(/[^a-z0-9_ -]/g, '')
    .replace(/ /g, '-')}`;
}

/** `open`: the anchors of the reasons to show unfolded (those of the failing nodes). */
export function renderErrorDetails(reasons: readonly ShownReason[], open: ReadonlySet<string> = new Set()): string {
  const seen = new Map<string, ShownReason>();
  for (const r of reasons) if (!seen.has(reasonAnchor(r))) seen.set(reasonAnchor(r), r);
  if (seen.size === 0) return '<section id="error-details"><h2>Error details</h2><p class="muted">No failure to explain.</p></section>';
  const blocks = [...seen.entries()].map(([anchor, r]) => {
    const c = catalogEntryOf(r);
    const title = c === INCORRECT_LICENSE_FORMAT && r.code !== null ? `${c.name} (raw code ${r.code})` : reasonLabel(r);
    return (
      `<details id="${esc(anchor)}" class="error-details"${open.has(anchor) ? ' open' : ''}><summary>${esc(title)} — View Error Details</summary>` +
      `<p>${esc(c.definition)}</p><dl>` +
      `<dt>Check</dt><dd class="step-check">${esc(c.steps.check)}</dd>` +
      `<dt>Change</dt><dd class="step-change">${esc(c.steps.change)}</dd>` +
      `<dt>Contact</dt><dd class="step-contact">${esc(c.steps.contact)}</dd>` +
      `</dl><p><a href="${esc(runbookHref(c))}" rel="noreferrer" target="_blank">The runbook's section</a></p></details>`
    );
  });
  return `<section id="error-details"><h2>Error details</h2>${blocks.join('')}</section>`;
}
