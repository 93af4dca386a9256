import type { FailureEntry } from '../../shared/redis/records';
import type { FailurePage } from './page-details';
import { pageHref } from './page-query';
import { utc } from './format';
import { esc } from './html';
import { reasonLink } from './render-error-details';

/**
 * The failure history, newest first, filterable by node (a plain GET form: it works
 * without JavaScript) and paged by links. The same entries as `fdl-cloudauth failures`,
 * except that a run of entries alike (same node, reason and message, one after the
 * other) is one row — "24 × 30003, from … to …" — instead of 24 identical ones
 * (issue 32). Folding is within the page shown; `failures` lists each entry.
 */
export interface FoldedEntry {
  /** The newest entry of the run. */
  readonly entry: FailureEntry;
  readonly count: number;
  /** `at` of the oldest entry of the run. */
  readonly from: number;
}

function alike(a: FailureEntry, b: FailureEntry): boolean {
  return a.node === b.node && a.code === b.code && a.name === b.name && a.message === b.message;
}

/** Runs of alike entries, newest first as given. */
export function foldHistory(entries: readonly FailureEntry[]): FoldedEntry[] {
  const out: FoldedEntry[] = [];
  for (const e of entries) {
    const last = out[out.length - 1];
    if (last && alike(last.entry, e)) out[out.length - 1] = { ...last, count: last.count + 1, from: e.at };
    else out.push({ entry: e, count: 1, from: e.at });
  }
  return out;
}

function time(at: number): string {
  return `<time datetime="${esc(new Date(at).toISOString())}">${esc(utc(at))}</time>`;
}

function row(f: FoldedEntry): string {
  const e = f.entry;
  const when = f.count === 1 ? time(e.at) : `<span class="fold">${f.count} × ${esc(e.code ?? e.name)}, from ${time(f.from)} to ${time(e.at)}</span>`;
  return (
    `<tr data-node="${esc(e.node)}"${f.count > 1 ? ` data-count="${f.count}"` : ''}><td>${when}</td>` +
    `<td>${esc(e.node)}</td><td>${e.code === null ? '<span class="muted">–</span>' : esc(e.code)}</td>` +
    `<td>${reasonLink(e, e.name)}</td><td class="msg">${esc(e.message)}</td></tr>`
  );
}

function filter(nodeIds: readonly string[], selected: string | null): string {
  const options = [`<option value=""${selected === null ? ' selected' : ''}>every node</option>`]
    .concat(nodeIds.map((id) => `<option value="${esc(id)}"${id === selected ? ' selected' : ''}>${esc(id)}</option>`))
    .join('');
  return `<form method="get" action="/#history"><label>Node <select name="node">${options}</select></label> <button type="submit">Show</button></form>`;
}

export function renderHistory(page: FailurePage, nodeIds: readonly string[]): string {
  const nav: string[] = [];
  if (page.page > 1) nav.push(`<a rel="prev" href="${esc(pageHref({ node: page.node, page: page.page - 1 }))}#history">← Newer</a>`);
  if (page.hasOlder) nav.push(`<a rel="next" href="${esc(pageHref({ node: page.node, page: page.page + 1 }))}#history">Older →</a>`);
  const scope = page.node === null ? 'every node' : `node ${esc(page.node)}`;
  const table =
    page.entries.length === 0
      ? `<p class="muted">No failure recorded for ${scope}${page.page > 1 ? ' on this page' : ''}.</p>`
      : '<div class="scroll"><table><thead><tr><th>Time</th><th>Node</th><th>Code</th><th>Name</th><th>Message</th></tr></thead>' +
        `<tbody>${foldHistory(page.entries).map(row).join('')}</tbody></table></div>`;
  return (
    `<section id="history"><h2>Failure history — ${scope}, page ${page.page}</h2>${filter(nodeIds, page.node)}${table}` +
    (nav.length > 0 ? `<nav class="pages">${nav.join('')}</nav>` : '') +
    '</section>'
  );
}
