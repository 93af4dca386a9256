import type { FailureEntry } from '../../shared/redis/records';
import type { FailurePage } from './page-details';
import { pageHref } from './page-query';
import { utc } from './format';
import { esc } from './html';
import { reasonLink } from './render-error-details';

/**
 * The failure history, newest first, filterable by node (a plain GET form: it works
 * without JavaScript) and paged by links. The same entries as `fdl-cloudauth failures`.
 */
function row(e: FailureEntry): string {
  return (
    `<tr data-node="${esc(e.node)}"><td><time datetime="${esc(new Date(e.at).toISOString())}">${esc(utc(e.at))}</time></td>` +
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
        `<tbody>${page.entries.map(row).join('')}</tbody></table></div>`;
  return (
    `<section id="history"><h2>Failure history — ${scope}, page ${page.page}</h2>${filter(nodeIds, page.node)}${table}` +
    (nav.length > 0 ? `<nav class="pages">${nav.join('')}</nav>` : '') +
    '</section>'
  );
}
