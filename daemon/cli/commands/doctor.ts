import { systemClock } from '../../../shared/clock';
import { allRequiredPass, DEFAULT_MANAGEMENT_URL, runDoctor } from '../../doctor/run-doctor';
import type { CheckResult } from '../../doctor/check-result';
import { ExitCode, stringFlag, type Command, type CommandContext } from '../command';

/**
 * `fdl-cloudauth doctor [--json]`: what an operator runs on a node before and after a
 * change. One line per check, ✓ or ✗, and under every ✗ its fix; exit 0 only when
 * every required check passed, 1 otherwise.
 */
function render(results: readonly CheckResult[]): string {
  const lines = results.flatMap((r) => [`${r.ok ? '✓' : '✗'} ${r.title}: ${r.detail}`, ...(r.ok ? [] : [`    fix: ${r.fix ?? ''}`])]);
  const failed = results.filter((r) => !r.ok && r.required).length;
  lines.push('', failed === 0 ? 'Every required check passed.' : `${failed} required check(s) failed.`);
  return `${lines.join('\n')}\n`;
}

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'checks everything this node needs, each with its fix',
  help: `Usage: fdl-cloudauth doctor [--json] [--management-center URL]

Checks, with this node's configuration: the configuration; the key directory, its
mode and the private key; the node IP it reports; Redis (reachable, AOF persistence,
maxmemory-policy noeviction, clock offset); that the stored credential opens with
this node's keys; DNS, TCP, the proxy and the TLS handshake to the authorization
server (no authentication); and, optionally, the management center. Each line is
✓ or ✗; every ✗ says what to do. Exit 0 only when every required check passes.

  --json                    the results as JSON: {"ok", "checks": [{"id", "title", "ok", "required", "detail", "fix"}]}
  --management-center URL   the optional check's address (default ${DEFAULT_MANAGEMENT_URL})`,
  options: { json: { type: 'boolean' }, 'management-center': { type: 'string' } },
  async run(ctx: CommandContext): Promise<number> {
    const results = await runDoctor({
      loadConfig: (require) => ctx.config(require),
      clock: systemClock,
      managementUrl: stringFlag(ctx, 'management-center') ?? DEFAULT_MANAGEMENT_URL,
    });
    const ok = allRequiredPass(results);
    if (ctx.values.json === true) ctx.stdout.write(`${JSON.stringify({ ok, checks: results }, null, 2)}\n`);
    else ctx.stdout.write(render(results));
    return ok ? ExitCode.OK : ExitCode.FAILED;
  },
};
