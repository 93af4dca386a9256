import { systemClock } from '../../../shared/clock';
import { allRequiredPass, runDoctor } from '../../doctor/run-doctor';
import { DEFAULT_MANAGEMENT_URL } from '../../doctor/management-url';
import type { CheckResult } from '../../doctor/check-result';
import { ExitCode, stringFlag, type CommandContext } from '../command';

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

export async function run(ctx: CommandContext): Promise<number> {
  const results = await runDoctor({
    loadConfig: (require) => ctx.config(require),
    clock: systemClock,
    managementUrl: stringFlag(ctx, 'management-center') ?? DEFAULT_MANAGEMENT_URL,
  });
  const ok = allRequiredPass(results);
  if (ctx.values.json === true) ctx.stdout.write(`${JSON.stringify({ ok, checks: results }, null, 2)}\n`);
  else ctx.stdout.write(render(results));
  return ok ? ExitCode.OK : ExitCode.FAILED;
}
