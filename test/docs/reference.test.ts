import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { schema } from '../../shared/config/schema';
import { headings, sectionBody } from '../support/markdown';
import { SPEC_METRICS } from '../support/spec-metrics';

/**
 * The reference tables in docs/ are public documentation of public interface: the
 * configuration table (docs/configuration.md) must list exactly the keys of the convict
 * schema (with their environment variables, defaults and docs), and the metrics table
 * (docs/metrics.md) exactly the metrics of SPEC section 8. A key or metric added,
 * renamed or re-defaulted in code without the documentation fails here.
 */

const ROOT = path.resolve(__dirname, '..', '..');
const doc = (name: string) => readFileSync(path.join(ROOT, 'docs', name), 'utf8');
const CONFIGURATION = doc('configuration.md');
const METRICS = doc('metrics.md');
const OPERATIONS = doc('operations.md');

/** Keys whose default depends on the machine (or its environment); the documentation describes it in words. */
const HOST_DEFAULTS = new Set(['node.id', 'node.ip', 'node.domain', 'authServer.proxy']);

interface SchemaEntry {
  readonly key: string;
  readonly env: string;
  readonly default: unknown;
  readonly doc: string;
}

function schemaEntries(): SchemaEntry[] {
  const out: SchemaEntry[] = [];
  const walk = (node: Record<string, unknown>, prefix: string) => {
    for (const [name, value] of Object.entries(node)) {
      const v = value as Record<string, unknown>;
      if (typeof v.env === 'string' && 'default' in v) out.push({ key: `${prefix}${name}`, env: v.env, default: v.default, doc: String(v.doc) });
      else walk(v, `${prefix}${name}.`);
    }
  };
  walk(schema as unknown as Record<string, unknown>, '');
  return out;
}

/** Rows of the first Markdown table in a section: header cells as keys. */
function tableRows(markdown: string, sectionTitle: string): Array<Record<string, string>> {
  const body = sectionBody(markdown, sectionTitle);
  if (body === undefined) throw new Error(`no "${sectionTitle}" section`);
  const lines = body.split('\n').filter((l) => l.trim().startsWith('|'));
  const cells = (line: string) =>
    line
      .trim()
      .replace(/^\|/, '')
      .replace(/\|$/, '')
      .split('|')
      .map((c) => c.trim());
  const [header, separator, ...rows] = lines;
  if (!header || !separator || !/^\|[-:| ]+\|$/.test(separator.trim())) throw new Error(`no table in "${sectionTitle}"`);
  const names = cells(header);
  return rows.map((row) => {
    const values = cells(row);
    expect(values).toHaveLength(names.length);
    return Object.fromEntries(names.map((n, i) => [n, values[i] ?? '']));
  });
}

/** `text` → text; anything else → undefined. */
function code(cell: string | undefined): string | undefined {
  const m = /^`([^`]*)`$/.exec(cell ?? '');
  return m ? m[1] : undefined;
}

describe('docs/configuration.md', () => {
  const rows = tableRows(CONFIGURATION, 'Configuration reference');
  const entries = schemaEntries();

  test('lists every schema key once, in schema order, and nothing else', () => {
    const documentedKeys = rows.map((r) => code(r.key));
    expect(documentedKeys).toEqual(entries.map((e) => e.key));
  });

  test.each(schemaEntries().map((e) => [e.key, e] as const))('%s: environment variable, default and description match the schema', (_key, entry) => {
    const row = rows.find((r) => code(r.key) === entry.key);
    expect(row).toBeDefined();
    expect(code(row?.['environment variable'])).toBe(entry.env);
    const shown = row?.default ?? '';
    if (HOST_DEFAULTS.has(entry.key)) {
      // Depends on the host: described in words, never a value copied from one machine.
      expect(shown).not.toMatch(/`/);
      expect(shown.length).toBeGreaterThan(3);
    } else if (entry.default === '') {
      // No value: the documentation says what that means in parentheses, e.g. "(required for daemon)".
      expect(shown).toMatch(/^\([^`]+\)$/);
    } else {
      expect(code(shown)).toBe(String(entry.default));
    }
    expect((row?.description ?? '').startsWith(entry.doc)).toBe(true);
  });

  test('marks as required exactly the keys whose docs say so, and the project', () => {
    for (const entry of entries) {
      const row = rows.find((r) => code(r.key) === entry.key);
      const saysRequired = /required/.test(row?.default ?? '');
      const docRequired = /required/.test(entry.doc) || entry.key === 'project';
      expect({ key: entry.key, saysRequired }).toEqual({ key: entry.key, saysRequired: docRequired });
    }
  });
});

describe('docs/metrics.md', () => {
  const rows = tableRows(METRICS, 'Metrics reference');

  test('lists exactly the metrics of SPEC section 8, in its order', () => {
    expect(rows.map((r) => code(r.metric))).toEqual(SPEC_METRICS.map((m) => m.name));
  });

  test.each(SPEC_METRICS.map((m) => [m.name, m] as const))('%s: type, labels and exporter match the specification', (_name, metric) => {
    const row = rows.find((r) => code(r.metric) === metric.name);
    expect(row?.type).toBe(metric.type);
    const labels = (row?.labels ?? '').split(',').map((l) => code(l.trim()));
    expect(labels).toEqual([...metric.labels]);
    expect(row?.['exported by']).toBe(metric.nodeLevel ? 'every sidecar' : 'leader only');
    expect((row?.meaning ?? '').length).toBeGreaterThan(10);
  });
});

describe('docs/operations.md', () => {
  test('holds the deployment sections in the order operators need them', () => {
    const all = headings(OPERATIONS);
    expect(all.filter((h) => h.level === 2).map((h) => h.text)).toEqual([
      'Deploy the sidecar',
      'Register a project',
      'Migrate a node',
      'Switch the encryption algorithm',
      'Upgrade and roll back: mixed versions',
    ]);
    const deployLine = all.find((x) => x.text === 'Deploy the sidecar')?.line ?? 0;
    const deploy = all.filter((h) => h.level === 3 && h.line > deployLine);
    expect(deploy.slice(0, 5).map((h) => h.text)).toEqual(['Kubernetes', 'systemd', 'Compose', 'Redis for production', 'Keys']);
  });

  test('every deploy file a section names exists', () => {
    const body = sectionBody(OPERATIONS, 'Deploy the sidecar') ?? '';
    const named = [...body.matchAll(/`(deploy\/[^`\s]+)`/g)].map((m) => m[1] ?? '');
    expect(named.length).toBeGreaterThan(3);
    for (const file of named) {
      expect({ file, exists: existsSync(path.join(ROOT, file)) }).toEqual({ file, exists: true });
    }
  });
});
