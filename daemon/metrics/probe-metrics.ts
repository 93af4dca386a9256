import { Gauge, type Registry } from 'prom-client';

/**
 * The reachability probe's node series (agent/reachability-probe.ts measures, this
 * exports): whether the authorization server was reached, how long the probe took, and
 * the server certificate's notAfter. They appear with the first probe, so a sidecar
 * with the probe off exports none of them.
 */

/** What one probe found, as far as the series show it. */
export interface ProbeObservation {
  reachable: boolean;
  durationMs: number;
  certificate?: { notAfter: number } | null;
}

export class ProbeMetrics {
  private readonly reachable: Gauge<'project' | 'node'>;
  private readonly duration: Gauge<'project' | 'node'>;
  private readonly expiry: Gauge<'project' | 'node'>;
  private readonly labels: { project: string; node: string };

  constructor(registry: Registry, project: string, node: string) {
    this.labels = { project, node };
    const registers = [registry];
    const labelNames = ['project', 'node'] as const;
    this.reachable = new Gauge({
      name: 'fdl_cloudauth_authserver_reachable',
      help: '1 when the last probe reached the authorization server (DNS, TCP, TLS), 0 otherwise.',
      labelNames,
      registers,
    });
    this.duration = new Gauge({
      name: 'fdl_cloudauth_probe_duration_seconds',
      help: 'Duration of the last reachability probe of the authorization server.',
      labelNames,
      registers,
    });
    this.expiry = new Gauge({
      name: 'fdl_cloudauth_authserver_tls_expiry_timestamp_seconds',
      help: "notAfter of the authorization server's TLS certificate, as the last successful probe saw it.",
      labelNames,
      registers,
    });
  }

  observe(result: ProbeObservation): void {
    this.reachable.set(this.labels, result.reachable ? 1 : 0);
    this.duration.set(this.labels, result.durationMs / 1000);
    if (result.certificate) this.expiry.set(this.labels, Math.floor(result.certificate.notAfter / 1000));
  }
}
