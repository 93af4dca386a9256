import { DEFAULT_MANAGEMENT_URL } from '../../doctor/management-url';
import { lazyRun, type Command } from '../command';

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
  run: lazyRun(() => import('../actions/doctor')),
};
