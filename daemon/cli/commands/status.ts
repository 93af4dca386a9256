import { lazyRun, type Command } from '../command';

/**
 * `fdl-cloudauth status [--json]`: the project's status and a row per node, read with
 * the same code and rules as the aggregator (so it agrees with `GET /status` and the
 * metrics), from any machine that reaches Redis.
 */
export const statusCommand: Command = {
  name: 'status',
  summary: 'project status, time to lockout, license, leader and a row per node',
  help: `Usage: fdl-cloudauth status [--json]

Shows the project's registration status, the time left before it would be marked
failed if every attempt fails from now, the license, the aggregator leader, and per
node: status, consecutive failures, the reason of the first failure of the streak,
last attempt and last success (local time and how long ago).

  --json   the JSON of GET /status (times in ISO 8601 UTC)`,
  options: { json: { type: 'boolean' } },
  run: lazyRun(() => import('../actions/status')),
};
