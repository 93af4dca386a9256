import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { headings } from '../support/markdown';

/**
 * The README sends a newcomer on to docs/, and the documents link to each other's
 * sections (the operations guide to the runbook, the runbook to itself). Moving a
 * section must not leave a link that lands nowhere: every relative link of README.md
 * and docs/*.md names a file that exists and, with an anchor, a heading of that file.
 */

const ROOT = path.resolve(__dirname, '..', '..');
const DOCS = [
  'README.md',
  ...readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** Relative Markdown links `[text](target)` outside fenced code. */
function relativeLinks(markdown: string): string[] {
  const prose = markdown.replace(/^```[\s\S]*?^```/gm, '');
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] ?? '').filter((t) => !/^[a-z]+:/i.test(t));
}

describe('links between README.md and docs/', () => {
  test('the README links to every reference document', () => {
    const links = relativeLinks(readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
    for (const doc of ['docs/operations.md', 'docs/configuration.md', 'docs/metrics.md', 'docs/runbook.md']) expect(links).toContain(doc);
  });

  test.each(DOCS)('every relative link of %s lands on a file and heading that exist', (file) => {
    const broken: string[] = [];
    const links = relativeLinks(readFileSync(path.join(ROOT, file), 'utf8'));
    for (const link of links) {
      const [target = '', anchor] = link.split('#');
      const targetFile = target === '' ? path.join(ROOT, file) : path.resolve(path.dirname(path.join(ROOT, file)), target);
      if (!existsSync(targetFile)) {
        broken.push(`${link}: no file ${path.relative(ROOT, targetFile)}`);
        continue;
      }
      if (anchor === undefined || !targetFile.endsWith('.md')) continue;
      const anchors = new Set(headings(readFileSync(targetFile, 'utf8')).map((h) => h.anchor));
      if (!anchors.has(anchor)) broken.push(`${link}: no heading with anchor #${anchor}`);
    }
    expect(broken).toEqual([]);
  });
});
