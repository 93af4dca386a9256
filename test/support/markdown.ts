/**
 * Headings of a Markdown file and the anchors GitHub gives them, so tests can check
 * that every runbook link of an alert lands on a README section.
 */

import { githubAnchor } from '../../daemon/page/markdown';

// The anchors are the product's own (daemon/page/markdown.ts: the served runbook uses them).
export { githubAnchor };

export interface Heading {
  readonly level: number;
  readonly text: string;
  readonly anchor: string;
  /** Index of the heading line in the file's lines. */
  readonly line: number;
}

/** ATX headings outside fenced code blocks; repeated anchors get -1, -2... as on GitHub. */
export function headings(markdown: string): Heading[] {
  const out: Heading[] = [];
  const seen = new Map<string, number>();
  let fence: string | null = null;
  for (const [line, text] of markdown.split(/\r?\n/).entries()) {
    const fenceMatch = /^\s{0,3}(`{3,}|~{3,})/.exec(text);
    if (fenceMatch) {
      const marker = fenceMatch[1] ?? '';
      if (fence === null) fence = marker[0] ?? null;
      else if (marker[0] === fence) fence = null;
      continue;
    }
    if (fence !== null) continue;
    const m = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/.exec(text);
    if (!m) continue;
    const title = m[2] ?? '';
    const base = githubAnchor(title);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    out.push({ level: (m[1] ?? '').length, text: title, anchor: count === 0 ? base : `${base}-${count}`, line });
  }
  return out;
}

/** The body of the section under the heading with this exact text (up to the next heading of its level or higher). */
export function sectionBody(markdown: string, headingText: string): string | undefined {
  const all = headings(markdown);
  const index = all.findIndex((h) => h.text === headingText);
  const heading = all[index];
  if (!heading) return undefined;
  const next = all.slice(index + 1).find((h) => h.level <= heading.level);
  const lines = markdown.split(/\r?\n/);
  return lines.slice(heading.line + 1, next ? next.line : lines.length).join('\n');
}
