import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../shared/package-root';

/**
 * docs/code-map.md stays true where a test can tell: every back-quoted path in it names
 * a file or folder that exists (from the repository root, or under `daemon/`, which the
 * walk through one attempt leaves out), and every room its table names is a folder (or
 * the one file it names).
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
