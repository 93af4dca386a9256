import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Summarises a V8 .cpuprofile (node --cpu-prof) into its top functions by self
 * time, for the report. Work done on libuv's thread pool (scrypt, for instance)
 * does not appear in it: it only samples the JavaScript thread.
 */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

export interface ProfileEntry {
  name: string;
  selfPercent: number;
}

function label(node: ProfileNode, root: string): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url ? url.replace(/^file:\/\//, '').replace(`${root}/`, '') : '';
  const name = functionName || '(anonymous)';
  return file ? `${name} (${file}:${lineNumber + 1})` : name;
}

export function topFunctions(profileFile: string, root: string, limit = 12): ProfileEntry[] {
  const profile = JSON.parse(readFileSync(profileFile, 'utf8')) as Profile;
  const hits = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const n = node.hitCount ?? 0;
    if (n === 0) continue;
    total += n;
    const key = label(node, root);
    hits.set(key, (hits.get(key) ?? 0) + n);
  }
  return [...hits.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([name, n]) => ({ name, selfPercent: Math.round((n / total) * 1000) / 10 }));
}

export function newestProfile(dir: string): string | undefined {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  return files.length > 0 ? path.join(dir, files.sort().at(-1) as string) : undefined;
}
