import { Gauge, type Registry } from 'prom-client';

/** What the series read of the web configuration (http/web-config-source.ts is one). */
export interface WebConfigReloads {
  readonly reload: { readonly ok: boolean; readonly lastSuccessSeconds: number };
}

/**
 * Whether the last re-read of the web configuration file worked, named like
 * Prometheus' own `prometheus_config_last_reload_successful`. Registered only when a
 * web configuration file is used; not one of SPEC §8's series, which do not change.
 */
export function registerWebConfigMetrics(registry: Registry, source: WebConfigReloads): void {
  new Gauge({
    name: 'fdl_cloudauth_web_config_last_reload_successful',
    help: 'Whether the last re-read of http.webConfigFile succeeded (0: the previous configuration is still in force).',
    registers: [registry],
    collect() {
      // A scrape is a request: current() has just re-read a changed file.
      this.set(source.reload.ok ? 1 : 0);
    },
  });
  new Gauge({
    name: 'fdl_cloudauth_web_config_last_reload_success_timestamp_seconds',
    help: 'When http.webConfigFile was last loaded successfully.',
    registers: [registry],
    collect() {
      this.set(source.reload.lastSuccessSeconds);
    },
  });
}
