import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../shared/package-root';

/**
 * docs/code-map.md stays true where a test can tell: every back-quoted path in it names
 * a file or folder that exists (from the repository root, or under `daemon/`, which the
 * walk through one attempt leaves out), and every room its table names is a folder (or
 * the one file it names). The directions it gives the top-level folders hold too: the
 * product imports none of harness/, bench/ and test/; harness/ imports neither bench/
 * nor test/; bench/ nothing of test/; and test/ imports bench/ only from test/bench/.
 */
const ROOT = packageRoot();
const MAP = readFileSync(path.join(ROOT, 'docs/code-map.md'), 'utf8');

/** Back-quoted tokens that look like paths: a slash and a file extension, or a trailing slash. */
function pathsIn(text: string): string[] {
  const tokens = [...text.matchAll(/`([^`\s]+)`/g)].map((m) => m[1] as string);
  return [
    ...new Set(
      tokens.filter((t) => t.includes('/') && !t.includes('*') && !t.startsWith('http') && (/\.(ts|lua|md|js|mjs|json|yml|yaml)$/.test(t) || t.endsWith('/'))),
    ),
  ];
}

const TABLE = MAP.slice(MAP.indexOf('## The rooms'), MAP.indexOf('## One attempt'));
const ROOMS = [...TABLE.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1] as string);

/**
 * From the root, under `daemon/`, or — for a folder named by itself, as the table's
 * `commands/` — inside a room; a path with a placeholder (`<name>.ts`) by its folder.
 */
function resolves(p: string): boolean {
  if (p.includes('<')) return resolves(`${path.dirname(p)}/`);
  const bases = ['', 'daemon', ...(/^[\w-]+\/$/.test(p) ? ROOMS.filter((r) => r.endsWith('/')) : [])];
  return bases.some((base) => existsSync(path.join(ROOT, base, p)));
}

it.each(pathsIn(MAP))('`%s` exists', (p) => {
  expect(resolves(p)).toBe(true);
});

it('names every room as a folder that exists', () => {
  const rooms = ROOMS;
  expect(rooms.length).toBeGreaterThan(10);
  for (const room of rooms) {
    const full = path.join(ROOT, room);
    expect([room, existsSync(full) && (room.endsWith('/') ? statSync(full).isDirectory() : statSync(full).isFile())]).toEqual([room, true]);
  }
});

/** Every file of a folder, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? filesUnder(full) : [full];
  });
}

/** The relative modules a source file names (import … from, export … from, require(), import()), from the root. */
function relativeImports(file: string): string[] {
  const source = readFileSync(file, 'utf8');
  const specs = [...source.matchAll(/(?:\bfrom\s+|\b(?:require|import)\(\s*)'(\.{1,2}\/[^']*)'/g)].map((m) => m[1] as string);
  return specs.map((spec) =>
    path
      .relative(ROOT, path.resolve(path.dirname(file), spec))
      .split(path.sep)
      .join('/'),
  );
}

/** What each top-level folder may not import: the product is imported, the harness serves tests and benchmarks. */
const NEVER: Record<string, readonly string[]> = {
  daemon: ['harness', 'bench', 'test', 'scripts'],
  shared: ['harness', 'bench', 'test', 'scripts'],
  harness: ['bench', 'test'],
  bench: ['test'],
};

describe('the top-level folders import in the directions the map gives', () => {
  const sources = (folder: string): string[] => filesUnder(path.join(ROOT, folder)).filter((f) => /\.(ts|js|mjs)$/.test(f));

  it('finds the imports it checks', () => {
    expect(
      sources('bench')
        .flatMap(relativeImports)
        .filter((m) => m.startsWith('harness/')).length,
    ).toBeGreaterThan(20);
  });

  it.each(Object.entries(NEVER))('%s/ imports none of %p', (folder, never) => {
    const wrong = sources(folder).flatMap((file) =>
      relativeImports(file)
        .filter((target) => never.includes(target.split('/')[0] as string))
        .map((target) => `${path.relative(ROOT, file)} -> ${target}`),
    );
    expect(wrong).toEqual([]);
  });

  it('test/ imports bench/ only from test/bench/ (the quick mode)', () => {
    const wrong = sources('test')
      .filter((file) => !path.relative(ROOT, file).startsWith(`test${path.sep}bench${path.sep}`))
      .flatMap((file) =>
        relativeImports(file)
          .filter((target) => target.startsWith('bench/'))
          .map((target) => `${path.relative(ROOT, file)} -> ${target}`),
      );
    expect(wrong).toEqual([]);
  });
});
