import { existsSync } from 'node:fs';
import path from 'node:path';

let cached: string | undefined;

/**
 * The repository (or installed package) root. Lua scripts and other assets are read
 * from here, so the same code works from `dist/` and from the TypeScript sources.
 */
export function packageRoot(): string {
  if (cached) return cached;
  let dir = __dirname;
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'shared'))) {
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
