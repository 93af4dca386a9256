import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../shared/package-root';
import { esc } from './html';
import { renderMarkdown } from './markdown';
import { PAGE_STYLE } from './page-style';

/**
 * `GET /runbook`: docs/runbook.md, shipped in the package ("files" in package.json, so
 * in the image too), rendered by the sidecar. The alerts' runbook_url point here by
 * default (scripts/gen-k8s-monitoring.js) and the Registration page's "runbook"
 * links too, so the runbook opens wherever the page opens — an air-gapped FDL site
 * included — and always matches the running version. Rendered once: the file does not
 * change under a running sidecar. The page's headers (its CSP: no script, the page's
 * own style) apply unchanged.
 */
export const RUNBOOK_FILE = 'docs/runbook.md';

let cached: string | undefined;

export function renderRunbookPage(markdown: string): string {
  return (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<title>${esc('Runbook — fdl-cloudauth')}</title><link rel="icon" href="data:,">` +
    `<style>${PAGE_STYLE}</style></head>` +
    `<body><main class="runbook"><p><a href="/">← The Registration page</a></p>${renderMarkdown(markdown)}</main></body></html>`
  );
}

/** The runbook of this installation, rendered once. */
export function runbookPage(): string {
  cached ??= renderRunbookPage(readFileSync(path.join(packageRoot(), RUNBOOK_FILE), 'utf8'));
  return cached;
}
