import { PassThrough } from 'node:stream';
import { runCli } from '../../daemon/cli/run-cli';

/**
 * The main help names every way in: the commands, the common flags and `--version`
 * (issue 32: the help did not say that `--version` exists).
 */
async function run(argv: string[]): Promise<{ code: number; stdout: string }> {
  const stdout = new PassThrough();
  const chunks: Buffer[] = [];
  stdout.on('data', (c: Buffer) => chunks.push(c));
  const code = await runCli(argv, { stdout, stderr: new PassThrough(), stdin: new PassThrough(), env: {} });
  return { code, stdout: Buffer.concat(chunks).toString('utf8') };
}

it('--help mentions --version, which prints the version', async () => {
  const help = await run(['--help']);
  expect(help.code).toBe(0);
  expect(help.stdout).toMatch(/^\s*fdl-cloudauth --version\s+\S/m);
  const version = await run(['--version']);
  expect(version.code).toBe(0);
  expect(version.stdout).toMatch(/^\d+\.\d+\.\d+/);
});
