import { esc } from './html';

/**
 * A small Markdown-to-HTML renderer for one trusted file, docs/runbook.md, so the
 * sidecar can serve its runbook itself (`GET /runbook`) and an air-gapped site has
 * working runbook links. It knows what the runbook uses — ATX headings with GitHub's
 * anchors (the alerts' runbook_url and the page link to them), paragraphs, bulleted
 * and numbered lists with indented continuation lines, fenced code, pipe tables, and
 * inline code, bold, emphasis and links — and escapes everything else as text. Not a
 * general CommonMark renderer (a dependency for one file of ours would be more to
 * trust than these lines); `test/page/runbook.test.ts` holds it to the runbook.
 */

/** GitHub's anchor of a heading: lower case, punctuation dropped (letters, digits, `_`, `-` kept), spaces as hyphens. */
export function githubAnchor(text: string): string {
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Links stay links only to a fragment or an absolute http(s) URL: another doc of the repository is not served here. */
function linkHtml(text: string, href: string): string {
  if (href.startsWith('#') || /^https?:\/\//.test(href)) return `<a href="${esc(href)}">${text}</a>`;
  return text;
}

export function inline(text: string): string {
  // Code spans first, kept out of the other rules.
  const parts = text.split(/(`[^`]+`)/);
  return parts
    .map((part) => {
      if (/^`[^`]+`$/.test(part)) return `<code>${esc(part.slice(1, -1))}</code>`;
      return esc(part)
        .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (_m, t: string, href: string) => linkHtml(t, href.replace(/&amp;/g, '&')))
        .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
        .replace(/(^|[^*\w])\*([^*\s][^*]*)\*(?!\w)/g, '$1<em>$2</em>');
    })
    .join('');
}

const LIST_ITEM = /^(\s*)(?:([-*])|(\d+)\.)\s+(.*)$/;

function cells(row: string): string[] {
  return row
    .trim()
    .replace(/^\||\|$/g, '')
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

function table(rows: string[]): string {
  const [head = '', , ...body] = rows;
  const th = cells(head)
    .map((c) => `<th>${inline(c)}</th>`)
    .join('');
  const trs = body.map(
    (r) =>
      `<tr>${cells(r)
        .map((c) => `<td>${inline(c)}</td>`)
        .join('')}</tr>`,
  );
  return `<table><thead><tr>${th}</tr></thead><tbody>${trs.join('')}</tbody></table>`;
}

function list(lines: string[]): string {
  const ordered = /^\s*\d+\./.test(lines[0] ?? '');
  const items: string[] = [];
  for (const line of lines) {
    const m = LIST_ITEM.exec(line);
    if (m && (m[1] ?? '').length === 0) items.push(m[4] ?? '');
    else items[items.length - 1] = `${items[items.length - 1] ?? ''} ${line.trim()}`;
  }
  const tag = ordered ? 'ol' : 'ul';
  return `<${tag}>${items.map((i) => `<li>${inline(i)}</li>`).join('')}</${tag}>`;
}

export function renderMarkdown(markdown: string): string {
  const lines = markdown.split(/\r?\n/);
  const out: string[] = [];
  const seen = new Map<string, number>();
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] ?? '';
    if (line.trim() === '') {
      i++;
      continue;
    }
    const fence = /^\s{0,3}(`{3,}|~{3,})/.exec(line);
    if (fence) {
      const code: string[] = [];
      i++;
      while (i < lines.length && !(lines[i] ?? '').trimStart().startsWith(fence[1] ?? '```')) code.push(lines[i++] ?? '');
      i++;
      out.push(`<pre><code>${esc(code.join('\n'))}</code></pre>`);
      continue;
    }
    const heading = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading) {
      const level = (heading[1] ?? '#').length;
      const text = heading[2] ?? '';
      const base = githubAnchor(text.replace(/`/g, ''));
      const count = seen.get(base) ?? 0;
      seen.set(base, count + 1);
      const id = count === 0 ? base : `${base}-${count}`;
      out.push(`<h${level} id="${esc(id)}">${inline(text)} <a class="anchor" href="#${esc(id)}">#</a></h${level}>`);
      i++;
      continue;
    }
    const block: string[] = [];
    if (line.trimStart().startsWith('|')) {
      while (i < lines.length && (lines[i] ?? '').trimStart().startsWith('|')) block.push(lines[i++] ?? '');
      out.push(table(block));
      continue;
    }
    if (LIST_ITEM.test(line)) {
      // Items and their indented continuation lines, up to a blank line or other text.
      while (i < lines.length && (lines[i] ?? '').trim() !== '' && (LIST_ITEM.test(lines[i] ?? '') || /^\s+\S/.test(lines[i] ?? '')))
        block.push(lines[i++] ?? '');
      out.push(list(block));
      continue;
    }
    while (i < lines.length && (lines[i] ?? '').trim() !== '' && !/^\s{0,3}(#{1,6}\s|`{3,}|\|)/.test(lines[i] ?? '') && !LIST_ITEM.test(lines[i] ?? '')) {
      block.push((lines[i++] ?? '').trim());
    }
    out.push(`<p>${inline(block.join(' '))}</p>`);
  }
  return out.join('\n');
}
