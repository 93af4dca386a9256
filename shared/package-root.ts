import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

let cached: string | undefined;

function isOurPackage(file: string): boolean {
  if (!existsSync(file)) return false;
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'fdl-cloudauth';
  } catch {
    return false;
  }
}

/**
 * The repository (or installed package) root: the nearest directory above this file
 * whose package.json is ours. Lua scripts are read from here, so the same code works
 * from `dist/`, from the TypeScript sources and from an installed package.
 */
export function packageRoot(): string {
  if (cached) return cached;
  let dir = __dirname;
  for (;;) {
    if (isOurPackage(path.join(dir, 'package.json'))) {
      cached = dir;
      return dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find the fdl-cloudauth package root above ${__dirname}`);
    dir = parent;
  }
}

export function packageVersion(): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require(path.join(packageRoot(), 'package.json')) as { version: string }).version;
}
