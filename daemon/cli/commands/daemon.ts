import { lazyRun, type Command } from '../command';

export const daemonCommand: Command = {
  name: 'daemon',
  summary: 'run the sidecar: heartbeat agent, aggregator candidate, metrics/health/status HTTP',
  help: `Usage: fdl-cloudauth daemon [--node ID] [--port N] [--host H]

Runs the sidecar of one FDL node. Needs project, product.version and authServer.url
(CLOUDAUTH_PROJECT, CLOUDAUTH_PRODUCT_VERSION, CLOUDAUTH_AUTH_SERVER_URL).
Stops cleanly on SIGTERM or SIGINT.

  --node ID       node.id (CLOUDAUTH_NODE_ID)
  --port N        http.port for /metrics, /healthz, /readyz, /status (0 picks a free port)
  --host H        http.host`,
  options: {
    node: { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
  },
  run: lazyRun(() => import('../actions/daemon')),
};
