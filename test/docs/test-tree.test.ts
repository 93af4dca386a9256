import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * test/README.md's map of the tree stays true. A test file's name says its kind, as
 * "The kinds of test" states the rule: the kind is told from what the file imports —
 * the helpers below, which start the product or an operator's server in a process of
 * its own, or `node:child_process` itself — so a suite that starts processes cannot
 * keep a name that says it does not, nor the other way round. Every helper that
 * starts a process is in one of the lists, and the README names each listed helper;
 * every file of test/support/ and of harness/ has its line in the README's index.
 */
const ROOT = path.resolve(__dirname, '..', '..');
const TEST = path.join(ROOT, 'test');
const README = readFileSync(path.join(TEST, 'README.md'), 'utf8');

/** A section of the README, from its heading to the next. */
function section(heading: string): string {
  const start = README.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`test/README.md has no heading ${heading}`);
  const end = README.indexOf('\n## ', start + 1);
  return README.slice(start, end < 0 ? undefined : end);
}

/** The product in a process of its own (a sidecar, the CLI, the reference server, a candidate), by module and export. */
const PRODUCT_PROCESSES: Record<string, readonly string[]> = {
  'harness/sidecar': ['startSidecar', 'startSidecars'],
  'test/support/cluster-suite': ['useThreeNodeCluster'],
  'harness/authserver': ['spawnAuthServer'],
  'test/support/cli': ['runCli', 'runProcess'],
  'harness/candidate-child': ['CandidateChild'],
  'bench/run': ['runBenchmarks'],
};

/** What an operator reads the product with, as shipped: Prometheus, Alertmanager, a browser. */
const OPERATOR_PROCESSES: Record<string, readonly string[]> = {
  'test/support/prometheus': ['startPrometheus'],
  'test/support/alertmanager': ['startAlertmanager'],
  'test/support/oncall-chain': ['startOnCallChain'],
  'test/support/server-process': ['startServerProcess'],
  'test/support/browser': ['launchBrowser'],
};

/**
 * Helpers that start processes and make no process suite: the Redis harness (its
 * suites are "real Redis"), tools run to completion on a file or a string (promtool,
 * amtool, mount), and the registry that kills what the others started.
 */
const NOT_A_PROCESS_SUITE = [
  'harness/redis-server',
  'test/support/redis-sentinel',
  'test/support/redis-cluster',
  'test/support/promtool',
  'test/support/small-disk',
  'harness/process-registry',
];

type Kind = 'in the jest worker' | 'real processes' | 'whole system';

const SUFFIX: Record<Kind, RegExp> = {
  'in the jest worker': /(?<![.-](process|e2e))\.test\.ts$/,
  'real processes': /[^.]\.process\.test\.ts$/,
  'whole system': /[^.]\.e2e\.test\.ts$/,
};

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? filesUnder(full) : [full];
  });
}

const rel = (full: string): string => path.relative(ROOT, full).split(path.sep).join('/');

interface Import {
  /** From the repository root without extension, or the package's name (`node:child_process`). */
  readonly module: string;
  /** Names imported as values (not `type`), `default` for a default import. */
  readonly names: readonly string[];
}

/** The value imports of a TypeScript file, plus `require()` and `import()` of node's child_process. */
function importsOf(file: string): Import[] {
  const source = readFileSync(file, 'utf8');
  const resolve = (spec: string): string =>
    spec.startsWith('.') ? rel(path.resolve(path.dirname(file), spec)).replace(/\.(ts|js)$/, '') : spec.replace(/^child_process$/, 'node:child_process');
  const found: Import[] = [];
  for (const m of source.matchAll(/^import\s+(?!type\s)([\s\S]*?)\s+from\s+'([^']+)'/gm)) {
    const clause = m[1] as string;
    const names: string[] = [];
    const braces = /\{([\s\S]*)\}/.exec(clause);
    if (braces) {
      for (const part of (braces[1] as string).split(',')) {
        const name = part.trim();
        if (name === '' || name.startsWith('type ')) continue;
        names.push(name.split(/\s+as\s+/)[0] as string);
      }
    }
    const outside = clause
      .replace(/\{[\s\S]*\}/, '')
      .replace(/,/g, ' ')
      .trim();
    if (outside !== '') names.push(outside.startsWith('*') ? '*' : 'default');
    found.push({ module: resolve(m[2] as string), names });
  }
  for (const m of source.matchAll(/\b(?:require|import)\(\s*'((?:node:)?child_process)'\s*\)/g)) found.push({ module: resolve(m[1] as string), names: ['*'] });
  return found;
}

function uses(imports: readonly Import[], helpers: Record<string, readonly string[]>): string[] {
  return imports.flatMap((i) => (helpers[i.module] ?? []).filter((name) => i.names.includes(name) || i.names.includes('*')));
}

function kindOf(file: string): { kind: Kind; why: string[] } {
  const imports = importsOf(file);
  const product = [
    ...uses(imports, PRODUCT_PROCESSES),
    ...(imports.some((i) => i.module === 'node:child_process' && i.names.length > 0) ? ['node:child_process'] : []),
  ];
  const operator = uses(imports, OPERATOR_PROCESSES);
  if (product.length > 0 && operator.length > 0) return { kind: 'whole system', why: [...product, ...operator] };
  if (product.length > 0 || operator.length > 0) return { kind: 'real processes', why: [...product, ...operator] };
  return { kind: 'in the jest worker', why: [] };
}

const TEST_FILES = filesUnder(TEST)
  .filter((f) => f.endsWith('.test.ts'))
  .map(rel)
  .sort();

describe('a test file is named for its kind', () => {
  it('finds the suites', () => {
    expect(TEST_FILES.length).toBeGreaterThan(100);
    expect(TEST_FILES.filter((f) => f.endsWith('.process.test.ts')).length).toBeGreaterThan(20);
    expect(TEST_FILES.filter((f) => f.endsWith('.e2e.test.ts')).length).toBeGreaterThan(2);
  });

  it.each(TEST_FILES)('%s', (file) => {
    const { kind, why } = kindOf(path.join(ROOT, file));
    const named = (Object.keys(SUFFIX) as Kind[]).filter((k) => SUFFIX[k].test(file));
    // e.g. ['real processes', 'startSidecar', 'real processes']: the kind, what made it so, the kind the name says.
    expect([kind, ...why, ...named]).toEqual([kind, ...why, kind]);
  });
});

describe('the helpers that start processes', () => {
  const lists = { ...PRODUCT_PROCESSES, ...OPERATOR_PROCESSES };

  it.each(Object.entries(lists))('%s exports %p', (module, names) => {
    const file = ['.ts', '.js'].map((ext) => path.join(ROOT, module + ext)).find((f) => statSync(f, { throwIfNoEntry: false }));
    const source = readFileSync(file as string, 'utf8');
    for (const name of names) expect([name, new RegExp(`^export (async )?(function|class|const) ${name}\\b`, 'm').test(source)]).toEqual([name, true]);
  });

  it('are each in a list: every file of test/support/ and harness/ that imports node:child_process', () => {
    const spawning = [...filesUnder(path.join(TEST, 'support')), ...filesUnder(path.join(ROOT, 'harness'))]
      .filter((f) => /\.(ts|js|mjs)$/.test(f) && !f.endsWith('.test.ts'))
      .filter((f) => /^import [^;]*'node:child_process'/m.test(readFileSync(f, 'utf8')) || /require\('node:child_process'\)/.test(readFileSync(f, 'utf8')))
      .map((f) => rel(f).replace(/\.(ts|js|mjs)$/, ''));
    const classified = [...Object.keys(lists), ...NOT_A_PROCESS_SUITE];
    expect(spawning.filter((m) => !classified.includes(m))).toEqual([]);
  });

  it('are named in the README', () => {
    const kinds = section('## The kinds of test');
    const missing = Object.values(lists)
      .flat()
      .filter((name) => !kinds.includes(`\`${name}\``));
    expect(missing).toEqual([]);
  });
});

describe.each([
  ['## test/support/', path.join(TEST, 'support')],
  ['## harness/', path.join(ROOT, 'harness')],
])("test/README.md's index under %s", (heading, folder) => {
  const index = section(heading);
  const listed = [...index.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1] as string);
  const files = filesUnder(folder).map((f) => path.relative(folder, f).split(path.sep).join('/'));

  it('has a line for every file', () => {
    expect(files.filter((f) => !listed.includes(f))).toEqual([]);
  });

  it('lists only files that exist, each once', () => {
    expect(listed.filter((f) => !files.includes(f))).toEqual([]);
    expect(listed.filter((f, i) => listed.indexOf(f) !== i)).toEqual([]);
  });
});
