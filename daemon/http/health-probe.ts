import http from 'node:http';
import https from 'node:https';

/**
 * The container and service health check: `node dist/daemon/http/health-probe.js
 * [/healthz|/readyz]` exits 0 when the sidecar on this host answers 200, 1 otherwise.
 *
 * It needs no credential and no client certificate: the sidecar answers its probes
 * without basic auth and without a client certificate (protected-server.ts), on TLS when
 * tls_server_config is set. It asks over HTTPS first when CLOUDAUTH_WEB_CONFIG_FILE is
 * set, and over plain HTTP when the sidecar does not speak TLS, so one command works
 * with and without a web configuration. The certificate is not verified: the probe
 * talks to its own loopback and learns only "alive" or "ready".
 */
const TIMEOUT_MS = 4000;

function ask(client: typeof http | typeof https, port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = client.get({ host: '127.0.0.1', port, path, agent: false, rejectUnauthorized: false, timeout: TIMEOUT_MS }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

export async function probe(env: NodeJS.ProcessEnv, path: string): Promise<number> {
  const port = Number(env.CLOUDAUTH_HTTP_PORT || 9464);
  if (env.CLOUDAUTH_WEB_CONFIG_FILE) {
    try {
      return await ask(https, port, path);
    } catch {
      // A web configuration with basic auth only: the sidecar speaks plain HTTP.
    }
  }
  return ask(http, port, path);
}

if (require.main === module) {
  const path = process.argv[2] ?? '/healthz';
  if (path !== '/healthz' && path !== '/readyz') {
    process.stderr.write(`usage: health-probe.js [/healthz|/readyz] (got ${path.slice(0, 40)})\n`);
    process.exit(2);
  }
  probe(process.env, path).then(
    (status) => process.exit(status === 200 ? 0 : 1),
    (error: Error) => {
      process.stderr.write(`health probe of ${path} failed: ${error.message}\n`);
      process.exit(1);
    },
  );
}
