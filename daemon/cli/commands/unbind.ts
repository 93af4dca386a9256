import { lazyRun, type Command } from '../command';

export const unbindCommand: Command = {
  name: 'unbind',
  summary: "free a node's slot on the authorization server (e.g. before moving it to a new server)",
  help: `Usage: fdl-cloudauth unbind --node ID

Frees the slot the node holds under the project's account, then removes the node from
the project's status (its failure history is kept 30 days). Stop the node's sidecar
first. A node that is not bound (answer 20000) has nothing to free: exit 0.

  --node ID    the node id to unbind`,
  options: { node: { type: 'string' } },
  run: lazyRun(() => import('../actions/unbind')),
};
