import { lazyRun, type Command } from '../command';

/**
 * `fdl-cloudauth authserver`: runs the reference authorization server until SIGTERM
 * or SIGINT, then shuts it down gracefully (stop accepting, finish in-flight
 * requests, close Redis) and exits 0. The listening URL is a log line; with
 * `--port 0` it names the port that was picked.
 */
export const authserverCommand: Command = {
  name: 'authserver',
  summary: 'run the reference authorization server (protocol v1 and its admin API)',
  help: `Usage: fdl-cloudauth authserver [--port N] [--host H]

Runs the reference authorization server: POST /v1/authenticate, POST /v1/unbind and
the admin API under /admin (bearer token authserver.adminToken). State lives in Redis
(redis.url, redis.keyPrefix). HTTPS when authserver.tlsCert and authserver.tlsKey are set.

  --port N        port to listen on (authserver.port, default 8443; 0 picks a free one)
  --host H        address to listen on (authserver.host, default 127.0.0.1)`,
  options: {
    port: { type: 'string' },
    host: { type: 'string' },
  },
  run: lazyRun(() => import('../actions/authserver')),
};
