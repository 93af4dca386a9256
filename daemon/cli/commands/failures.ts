import { lazyRun, type Command } from '../command';

/**
 * `fdl-cloudauth failures`: every recorded failure of the project (R4), newest first
 * across nodes, with "View Error Details" (--details): the catalog's definition and
 * troubleshooting steps of each distinct reason (R7).
 */
export const failuresCommand: Command = {
  name: 'failures',
  summary: 'failure list of the nodes, newest first, with error details',
  help: `Usage: fdl-cloudauth failures [--node ID] [--limit N] [--json] [--details]

Lists recorded failures newest first across all nodes of the project: a line per
failure (local time, node, code, name, attempt id) with its message in full below it.
For a node unbound from the project, its history is kept 30 days after the unbind.

  --node ID     only this node's failures
  --limit N     at most N failures (default 50)
  --json        JSON: [{"node","at","code","name","message","attemptId"}]
                (code is null for CONNECTION_FAILED, at in ISO 8601 UTC)
  --details     also the definition and troubleshooting steps (check, change,
                contact) of each distinct reason`,
  options: { node: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' }, details: { type: 'boolean' } },
  run: lazyRun(() => import('../actions/failures')),
};
