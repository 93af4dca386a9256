import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CATALOG } from '../../shared/catalog';
import { headings, sectionBody } from '../support/markdown';

/**
 * docs/runbook.md is what the alerts (and so every notification) link to and the long
 * form of "View Error Details": it must hold a section for every alert and every
 * catalog entry, with the catalog's own words, so the two cannot drift apart.
 */

const ROOT = path.resolve(__dirname, '..', '..');
const runbook = readFileSync(path.join(ROOT, 'docs/runbook.md'), 'utf8');
const alertNames = [...readFileSync(path.join(ROOT, 'deploy/prometheus/alerts.yml'), 'utf8').matchAll(/^\s*- alert:\s*(\w+)\s*$/gm)].map((m) => m[1] ?? '');

describe('docs/runbook.md', () => {
  it('has an Alerts and a Reason codes part', () => {
    expect(
      headings(runbook)
        .filter((h) => h.level === 2)
        .map((h) => h.text),
    ).toEqual(['Alerts', 'Reason codes']);
  });

  it.each(alertNames)('has a runbook for alert %s saying what it means, how urgent it is and what to do', (name) => {
    const body = sectionBody(runbook, `Alert: ${name}`);
    expect(body).toBeDefined();
    expect(body).toContain('**Means:**');
    expect(body).toContain('**Urgency:**');
    expect(body).toContain('**Do:**');
  });

  it.each(CATALOG.map((e) => [e.code === null ? e.name : `${e.code} ${e.name}`, e] as const))(
    'has the catalog entry %s with its definition and troubleshooting steps',
    (title, entry) => {
      const body = sectionBody(runbook, title);
      if (body === undefined) throw new Error(`docs/runbook.md has no "### ${title}"`);
      expect(body).toContain(`**Definition:** ${entry.definition}.`);
      expect(body).toContain(`**Check:** ${entry.steps.check}`);
      expect(body).toContain(`**Change:** ${entry.steps.change}`);
      expect(body).toContain(`**Contact:** ${entry.steps.contact}`);
    },
  );

  it('links only to headings that exist', () => {
    const anchors = new Set(headings(runbook).map((h) => h.anchor));
    const links = [...runbook.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1] ?? '');
    expect(links.length).toBeGreaterThan(20);
    expect(links.filter((a) => !anchors.has(a))).toEqual([]);
  });
});
