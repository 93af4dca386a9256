import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CATALOG } from '../../shared/catalog';
import { renderMarkdown } from '../../daemon/page/markdown';
import { runbookHref } from '../../daemon/page/render-error-details';
import { RUNBOOK_FILE, runbookPage } from '../../daemon/page/runbook-page';
import { headings } from '../support/markdown';

/**
 * `GET /runbook` (issue 32): the sidecar serves docs/runbook.md itself, so the alerts'
 * runbook links and the page's open on an air-gapped site. Every anchor a link points
 * at exists in the served page, the text is escaped, and the file ships in the package.
 */
const ROOT = path.resolve(__dirname, '..', '..');
const markdown = readFileSync(path.join(ROOT, RUNBOOK_FILE), 'utf8');
const html = runbookPage();

it('has every heading of docs/runbook.md at the anchor GitHub gives it', () => {
  const ids = new Set([...html.matchAll(/<h[1-6] id="([^"]+)"/g)].map((m) => m[1]));
  const anchors = headings(markdown).map((h) => h.anchor);
  expect(anchors.filter((a) => !ids.has(a))).toEqual([]);
  // What the alerts and the page link to.
  for (const name of ['RegistrationCritical', 'RegistrationFailed', 'NoLeader', 'TwoLeaders']) expect(ids).toContain(`alert-${name.toLowerCase()}`);
  for (const entry of CATALOG) expect(ids).toContain(runbookHref(entry).split('#')[1]);
});

it('renders the lists, the code, the tables and the links of the runbook, and no raw text', () => {
  expect(html).toContain('<ol><li>');
  expect(html).toContain('<code>fdl-cloudauth failures --details</code>');
  expect(html).toContain('<table><thead>');
  expect(html).toContain('<a href="#alert-redisdown">');
  expect(html).not.toMatch(/<script/i);
  expect(html).not.toMatch(/^#+ /m);
});

it('escapes what it does not render, and keeps links to other files of the repository as text', () => {
  expect(renderMarkdown('A <b>tag</b> & `<i>` and [ops](operations.md#x), [x](javascript:void)')).toBe(
    '<p>A &lt;b&gt;tag&lt;/b&gt; &amp; <code>&lt;i&gt;</code> and ops, x</p>',
  );
  expect(renderMarkdown('1. **Do** this\n   and that\n2. *then*')).toBe('<ol><li><strong>Do</strong> this and that</li><li><em>then</em></li></ol>');
});

it('ships docs/runbook.md in the package', () => {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
  expect(pkg.files).toContain(RUNBOOK_FILE);
});
