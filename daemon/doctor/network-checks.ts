import { readFileSync } from 'node:fs';
import type { Config } from '../../shared/config/compile';
import { probeReachability, type ProbeStep, type ReachabilityResult } from '../protocol/reachability';
import { fail, pass, type CheckResult } from './check-result';

/**
 * DNS, TCP, (the proxy's CONNECT) and TLS to the authorization server, one line each,
 * with the probe the sidecar runs between heartbeats; and the management center as
 * an optional line.
 */

const FIX: Record<ProbeStep, string> = {
  dns: "check the host name in authServer.url and this node's DNS resolver (or the proxy's host name)",
  tcp: 'open the firewall from this node to the server (or the proxy), port 443 for https',
  proxy: 'check authServer.proxy (CLOUDAUTH_AUTH_PROXY): its address, its credentials, and that it allows CONNECT to the server',
  tls: 'set authServer.caFile to the CA that signed the server certificate (a TLS-inspecting proxy has its own), or fix the node clock if the certificate looks expired',
};

const STEP_TITLE: Record<ProbeStep, string> = { dns: 'DNS', tcp: 'TCP', proxy: 'proxy CONNECT', tls: 'TLS handshake' };

function stepLines(prefix: string, what: string, url: URL, proxied: boolean, result: ReachabilityResult, required: boolean): CheckResult[] {
  const steps: ProbeStep[] = ['dns', 'tcp', ...(proxied ? (['proxy'] as const) : []), ...(url.protocol === 'https:' ? (['tls'] as const) : [])];
  const failedAt = result.failedStep === null ? steps.length : steps.indexOf(result.failedStep);
  return steps.map((step, i) => {
    const id = `${prefix}-${step}`;
    const title = `${what} ${STEP_TITLE[step]}`;
    if (i < failedAt) {
      if (step === 'tls' && result.certificate) {
        const days = Math.floor((result.certificate.notAfter - Date.now()) / 86_400_000);
        return pass(id, title, `chain trusted, certificate expires ${new Date(result.certificate.notAfter).toISOString()} (in ${days} days)`, required);
      }
      return pass(id, title, step === 'dns' || step === 'tcp' ? `${result.via}` : 'ok', required);
    }
    if (i === failedAt) return fail(id, title, `${result.detail} (${result.via})`, FIX[step], required);
    return fail(id, title, 'not reached: an earlier step failed', 'fix the step above first', required);
  });
}

export async function checkAuthServer(cfg: Config): Promise<CheckResult[]> {
  if (!cfg.authServer.url) return [fail('authserver', 'authorization server', 'authServer.url is not set', 'set authServer.url (CLOUDAUTH_AUTH_SERVER_URL)')];
  const url = new URL(cfg.authServer.url);
  let ca: Buffer | undefined;
  try {
    ca = cfg.authServer.caFile ? readFileSync(cfg.authServer.caFile) : undefined;
  } catch (error) {
    return [
      fail(
        'authserver-ca',
        'authorization server CA file',
        `${cfg.authServer.caFile} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
        'fix authServer.caFile (CLOUDAUTH_AUTH_CA_FILE)',
      ),
    ];
  }
  const result = await probeReachability({ url: cfg.authServer.url, ca, proxy: cfg.authServer.proxy, timeoutMs: cfg.authServer.timeoutMs });
  return stepLines('authserver', 'authorization server', url, Boolean(cfg.authServer.proxy), result, true);
}

/** The FanRuan management center the seed names (cloud.fanruan.com): optional, shown as one line. */
export async function checkManagementCenter(cfg: Config, managementUrl: string): Promise<CheckResult> {
  let ca: Buffer | undefined;
  try {
    ca = cfg.authServer.caFile ? readFileSync(cfg.authServer.caFile) : undefined;
  } catch {
    // Reported by the authorization server's check; the system CAs serve here.
  }
  const result = await probeReachability({ url: managementUrl, ca, proxy: cfg.authServer.proxy, timeoutMs: cfg.authServer.timeoutMs });
  const title = `management center ${new URL(managementUrl).host} (optional)`;
  if (result.reachable) return pass('management-center', title, `${result.detail} (${result.via})`, false);
  return fail(
    'management-center',
    title,
    `${STEP_TITLE[result.failedStep ?? 'tcp']}: ${result.detail} (${result.via})`,
    'only needed to manage the account in a browser from this network; open it like the authorization server if you need it',
    false,
  );
}
