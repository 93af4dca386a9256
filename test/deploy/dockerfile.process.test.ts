import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { schema } from '../../shared/config/schema';
import { COMMANDS } from '../../daemon/cli/commands';

/**
 * The Dockerfile, linted as a test (image.process.test.ts builds and runs it, where
 * buildah is installed; these rules run everywhere and name the rule a change breaks).
 * They tie the Dockerfile to what it depends on — package.json
 * (scripts, bin, "files"), the config schema (port, env names), the Lua scripts the code
 * reads at run time — so a change to any of those that the image would not follow
 * breaks a test rather than a deployment. The last test assembles the image's /app in a
 * temporary directory from `npm pack`'s real file list and runs the CLI from it.
 */

const ROOT = path.resolve(__dirname, '..', '..');
const DOCKERFILE = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
const PACKAGE = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  bin: Record<string, string>;
  scripts: Record<string, string>;
  files: string[];
  engines: { node: string };
};

interface Instruction {
  readonly keyword: string;
  readonly args: string;
  readonly line: number;
}

interface Stage {
  readonly image: string;
  readonly name: string | undefined;
  readonly instructions: Instruction[];
}

/** Instructions with continuation lines joined and comments dropped. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  let startLine = 0;
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (pending !== '' && line.startsWith('#')) continue;
    if (pending === '') startLine = i + 1;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trim()} `;
      continue;
    }
    const full = `${pending}${line}`.trim();
    pending = '';
    const m = /^(\S+)\s*(.*)$/.exec(full);
    if (m) out.push({ keyword: (m[1] ?? '').toUpperCase(), args: m[2] ?? '', line: startLine });
  }
  return out;
}

function stagesOf(instructions: readonly Instruction[]): Stage[] {
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`line ${ins.line}: cannot read FROM ${ins.args}`);
      stages.push({ image: m[1] ?? '', name: m[2], instructions: [] });
    } else {
      const stage = stages[stages.length - 1];
      if (!stage) throw new Error(`line ${ins.line}: ${ins.keyword} before the first FROM`);
      stage.instructions.push(ins);
    }
  }
  return stages;
}

/** The JSON (exec) form of ENTRYPOINT, CMD or HEALTHCHECK CMD. */
function execForm(args: string, where: string): string[] {
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) throw new Error(`${where} is not in exec form: ${args}`);
  return parsed as string[];
}

/** COPY sources from the build context (not --from), with their destinations. */
function contextCopies(stage: Stage): Array<{ sources: string[]; dest: string }> {
  return stage.instructions
    .filter((ins) => ins.keyword === 'COPY' && !/--from=/.test(ins.args))
    .map((ins) => {
      const words = ins.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      return { sources: words.slice(0, -1), dest: words[words.length - 1] ?? '' };
    });
}

function schemaEnvEntries(): Array<{ key: string; env: string; default: unknown }> {
  const out: Array<{ key: string; env: string; default: unknown }> = [];
  const walk = (node: Record<string, unknown>, prefix: string) => {
    for (const [name, value] of Object.entries(node)) {
      const v = value as Record<string, unknown>;
      if (typeof v.env === 'string' && 'default' in v) out.push({ key: `${prefix}${name}`, env: v.env, default: v.default });
      else walk(v, `${prefix}${name}.`);
    }
  };
  walk(schema as unknown as Record<string, unknown>, '');
  return out;
}

/** .dockerignore patterns as a matcher on context-relative paths (the subset we use). */
function dockerignoreMatcher(): (p: string) => boolean {
  const patterns = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const regexes = patterns.map((p) => {
    if (p.startsWith('!')) throw new Error(`exceptions are not handled by this test: ${p}`);
    const body = p
      .replace(/^\/+/, '')
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*\*/g, '\u0000')
      .replace(/\*/g, '[^/]*')
      .replace(/\?/g, '[^/]')
      .replace(/\u0000/g, '.*');
    // A pattern excludes the path itself and everything below it.
    return new RegExp(`^${body}(/.*)?$`);
  });
  return (p) => regexes.some((r) => r.test(p));
}

const INSTRUCTIONS = parseDockerfile(DOCKERFILE);
const STAGES = stagesOf(INSTRUCTIONS);
const BUILD = STAGES[0];
const FINAL = STAGES[STAGES.length - 1];

function stageRuns(stage: Stage | undefined): string[] {
  return (stage?.instructions ?? []).filter((i) => i.keyword === 'RUN').map((i) => i.args);
}

function only(stage: Stage | undefined, keyword: string): Instruction {
  const found = (stage?.instructions ?? []).filter((i) => i.keyword === keyword);
  expect(found).toHaveLength(1);
  return found[0] as Instruction;
}

describe('Dockerfile', () => {
  test('is multi-stage: a build stage with dev dependencies and a runtime stage', () => {
    expect(STAGES.length).toBeGreaterThanOrEqual(2);
    expect(BUILD?.name).toBe('build');
    expect(FINAL?.name).toBeUndefined();
    // Only the runtime stage is the image; nothing of the build stage but its output.
    expect(FINAL?.instructions.filter((i) => i.keyword === 'COPY' && i.args.includes('--from=')).map((i) => i.args)).toEqual(['--from=build /pkg/ ./']);
  });

  test('pins every base image to an exact Node version of a small Debian-slim or Alpine image', () => {
    for (const stage of STAGES) {
      // An exact version tag; a release build may add the digest (README's digest policy).
      expect(stage.image).toMatch(/^node:\d+\.\d+\.\d+-(bookworm-slim|alpine\d+\.\d+)(@sha256:[0-9a-f]{64})?$/);
    }
    const versions = new Set(STAGES.map((s) => s.image));
    expect(versions.size).toBe(1);
    // The newest line package.json "engines" supports is the one the image ships (README, "Supported runtimes").
    const version = /^node:(\d+)\.(\d+)\.\d+-/.exec(FINAL?.image ?? '');
    const lines = PACKAGE.engines.node.split('||').map((range) => /^\s*\^(\d+)\.(\d+)\.\d+\s*$/.exec(range));
    expect(lines.every((m) => m !== null)).toBe(true);
    const newest = lines.map((m) => [Number(m?.[1]), Number(m?.[2])]).sort((a, b) => (b[0] as number) - (a[0] as number))[0] ?? [];
    expect(Number(version?.[1])).toBe(newest[0]);
    expect(Number(version?.[2])).toBeGreaterThanOrEqual(newest[1] as number);
  });

  test('installs with npm ci only, install scripts off, all in the build stage: all dependencies to build, production ones for the image', () => {
    const all = INSTRUCTIONS.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    for (const run of all) expect(run).not.toMatch(/\bnpm\s+(install|i|add)\b/);
    const ci = all.flatMap((r) => r.match(/\bnpm ci\b[^&]*/g) ?? []);
    expect(ci.length).toBeGreaterThanOrEqual(2);
    for (const command of ci) expect(command).toContain('--ignore-scripts');
    const buildRuns = stageRuns(BUILD);
    expect(buildRuns.some((r) => /\bnpm ci\b/.test(r) && !r.includes('--omit'))).toBe(true);
    expect(buildRuns.some((r) => /cd \/pkg\b.*npm ci --omit=dev\b/.test(r))).toBe(true);
    for (const run of buildRuns.filter((r) => /\bnpm pack\b/.test(r))) expect(run).toContain('--ignore-scripts');
  });

  test('the runtime stage runs no npm and removes npm, npx, corepack and yarn from the image', () => {
    const runs = stageRuns(FINAL).join('\n');
    expect(runs).not.toMatch(/\b(npm|npx|yarn|corepack)\s+(ci|install|i|add|run|exec|pack|cache)\b/);
    for (const gone of ['/usr/local/lib/node_modules/npm', '/usr/local/bin/npm', '/usr/local/bin/npx', '/usr/local/bin/corepack', '/usr/local/bin/yarn']) {
      expect(runs).toContain(gone);
    }
    // Nothing but the build stage's output enters the runtime stage from the context.
    expect(contextCopies(FINAL as Stage)).toEqual([]);
  });

  test('builds with `npm run build`, which is the tsc build package.json defines', () => {
    const buildRuns = stageRuns(BUILD);
    expect(buildRuns).toContain('npm run build');
    expect(PACKAGE.scripts.build).toBe('tsc -p tsconfig.build.json');
    // What the build reads is in the stage before it runs.
    const copied = new Set(contextCopies(BUILD as Stage).flatMap((c) => c.sources));
    for (const needed of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'daemon', 'shared']) {
      expect(copied).toContain(needed);
    }
  });

  test('every COPY source from the build context exists and is not excluded by .dockerignore', () => {
    const ignored = dockerignoreMatcher();
    const sources = STAGES.flatMap((s) => contextCopies(s).flatMap((c) => c.sources));
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) {
      expect(existsSync(path.join(ROOT, source))).toBe(true);
      expect({ source, ignored: ignored(source) }).toEqual({ source, ignored: false });
    }
  });

  test('.dockerignore keeps node_modules, dist and .git out of the build context', () => {
    const ignored = dockerignoreMatcher();
    // .cache holds the image test's buildah storage and the stand-in's Debian; .tmp scratch files.
    for (const p of [
      'node_modules',
      'node_modules/bullmq/package.json',
      'dist',
      'dist/daemon/cli/main.js',
      '.git',
      '.git/HEAD',
      '.cache',
      '.cache/image-test/storage',
      '.tmp',
    ]) {
      expect({ p, ignored: ignored(p) }).toEqual({ p, ignored: true });
    }
  });

  test('runs as a numeric non-root user, set before ENTRYPOINT and CMD and never switched back', () => {
    const ins = FINAL?.instructions ?? [];
    const users = ins.filter((i) => i.keyword === 'USER');
    expect(users).toHaveLength(1);
    const user = users[0] as Instruction;
    const m = /^(\d+)(?::(\d+))?$/.exec(user.args);
    expect(m).not.toBeNull();
    expect(Number(m?.[1])).toBeGreaterThan(0);
    const userIndex = ins.indexOf(user);
    for (const keyword of ['ENTRYPOINT', 'CMD']) {
      expect(ins.findIndex((i) => i.keyword === keyword)).toBeGreaterThan(userIndex);
    }
    // The state directories the daemon writes belong to that user.
    const uid = m?.[1] ?? '';
    expect(stageRuns(FINAL).join('\n')).toMatch(new RegExp(`install -d -o ${uid} -g ${m?.[2] ?? uid} -m 0700 [^\\n]*/var/lib/fdl-cloudauth/journal`));
  });

  test('starts the CLI that `npm run build` produces (package.json bin) with the daemon command', () => {
    const entry = execForm(only(FINAL, 'ENTRYPOINT').args, 'ENTRYPOINT');
    expect(entry).toEqual(['node', PACKAGE.bin['fdl-cloudauth']]);
    expect(only(FINAL, 'WORKDIR').args).toBe('/app');
    // tsconfig.build.json compiles daemon/ and shared/ from the root "." into "dist".
    const build = JSON.parse(readFileSync(path.join(ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
    const base = JSON.parse(readFileSync(path.join(ROOT, 'tsconfig.json'), 'utf8')) as { compilerOptions: { outDir: string; rootDir: string } };
    expect(base.compilerOptions).toMatchObject({ outDir: 'dist', rootDir: '.' });
    expect(build.include).toContain('daemon/**/*.ts');
    const source = (entry[1] ?? '').replace(/^dist\//, '').replace(/\.js$/, '.ts');
    expect(existsSync(path.join(ROOT, source))).toBe(true);
    expect(execForm(only(FINAL, 'CMD').args, 'CMD')).toEqual(['daemon']);
    expect(COMMANDS.map((c) => c.name)).toContain('daemon');
  });

  test('exposes the default http.port, checks /healthz without curl, stops on SIGTERM', () => {
    expect(only(FINAL, 'EXPOSE').args).toBe(String(schema.http.port.default));
    expect(only(FINAL, 'STOPSIGNAL').args).toBe('SIGTERM');
    const health = only(FINAL, 'HEALTHCHECK').args;
    const cmd = /\bCMD\s+(\[.*\])$/.exec(health)?.[1] ?? '';
    const argv = execForm(cmd, 'HEALTHCHECK CMD');
    expect(argv[0]).toBe('node');
    const script = argv.join(' ');
    expect(script).toContain('/healthz');
    expect(script).not.toMatch(/\b(curl|wget)\b/);
    // The probe script (in the image under dist/) reads the port and the web configuration from the environment.
    expect(argv[1]).toBe('dist/daemon/http/health-probe.js');
    const source = readFileSync(path.join(ROOT, 'daemon/http/health-probe.ts'), 'utf8');
    expect(source).toContain(`env.${schema.http.port.env} || ${schema.http.port.default}`);
    expect(source).toContain('env.CLOUDAUTH_WEB_CONFIG_FILE');
  });

  test('sets only real configuration variables, with the state directories under /var/lib/fdl-cloudauth', () => {
    const envs = new Map(schemaEnvEntries().map((e) => [e.env, e]));
    const env = (FINAL?.instructions ?? [])
      .filter((i) => i.keyword === 'ENV')
      .map((i) => i.args)
      .join(' ');
    const pairs = [...env.matchAll(/([A-Z_][A-Z0-9_]*)=(\S+)/g)].map((m) => [m[1] ?? '', m[2] ?? ''] as const);
    const cloudauth = pairs.filter(([name]) => name.startsWith('CLOUDAUTH_'));
    for (const [name] of cloudauth) expect(envs.has(name)).toBe(true);
    const values = new Map(pairs);
    expect(values.get('NODE_ENV')).toBe('production');
    expect(values.get(schema.journal.dir.env)).toBe('/var/lib/fdl-cloudauth/journal');
    expect(values.get(schema.crypto.keyDir.env)).toBe('/var/lib/fdl-cloudauth/keys');
  });

  test('the image holds every Lua script under daemon/ and shared/, and the CLI runs from that layout', () => {
    // The build stage packs with `npm pack` and the runtime stage copies the unpacked
    // package: the image's /app is npm pack's file list (plus shared/ and node_modules).
    expect(stageRuns(BUILD).some((r) => r.startsWith('npm pack ') && r.includes('tar -xzf') && r.includes('mkdir -p /pkg/shared'))).toBe(true);
    const pack = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(pack.status).toBe(0);
    const files = new Set((JSON.parse(pack.stdout) as Array<{ files: Array<{ path: string }> }>)[0]?.files.map((f) => f.path));

    const lua: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
        const rel = path.posix.join(dir, entry.name);
        if (entry.isDirectory()) walk(rel);
        else if (entry.name.endsWith('.lua')) lua.push(rel);
      }
    };
    walk('daemon');
    walk('shared');
    expect(lua.length).toBeGreaterThan(0);
    for (const file of lua) expect({ file, inImage: files.has(file) }).toEqual({ file, inImage: true });
    expect(files.has('package.json')).toBe(true);
    // The runbook the sidecar serves at /runbook (the alerts' default runbook links).
    expect(files.has('docs/runbook.md')).toBe(true);

    // dist/ exists after `npm run build` (npm test builds before jest); the layout
    // check needs it, and what it checks does not depend on dist being fresh.
    const entry = PACKAGE.bin['fdl-cloudauth'] ?? '';
    expect(files.has(entry)).toBe(true);
    const app = mkdtempSync(path.join(os.tmpdir(), 'fdl-cloudauth-image-'));
    try {
      for (const file of files) {
        mkdirSync(path.dirname(path.join(app, file)), { recursive: true });
        cpSync(path.join(ROOT, file), path.join(app, file));
      }
      mkdirSync(path.join(app, 'shared'), { recursive: true });
      symlinkSync(path.join(ROOT, 'node_modules'), path.join(app, 'node_modules'), 'dir');
      // main.js loads every command, and with them every module-level LuaScript: a
      // script missing from the image fails here, as it would at the container's start.
      const help = spawnSync('node', [entry, '--help'], { cwd: app, encoding: 'utf8', timeout: 30_000, env: { ...process.env, NODE_ENV: 'production' } });
      expect({ status: help.status, stderr: help.stderr }).toEqual({ status: 0, stderr: '' });
      expect(help.stdout).toContain('daemon');
      const root = spawnSync('node', ['-e', "process.stdout.write(require('./dist/shared/package-root').packageRoot())"], {
        cwd: app,
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(root.stdout).toBe(app);
      const runbook = spawnSync('node', ['-e', "process.stdout.write(require('./dist/daemon/page/runbook-page').runbookPage())"], {
        cwd: app,
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(runbook.stdout).toContain('id="alert-registrationcritical"');
    } finally {
      rmSync(app, { recursive: true, force: true });
    }
  });
});
