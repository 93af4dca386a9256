import { alertmanagerConfigFromShipped, startAlertmanager, startWebhookReceiver, type TestAlertmanager, type WebhookReceiver } from './alertmanager';
import { configFromShipped, rulesFromShipped, startPrometheus, type TestPrometheus } from './prometheus';

/**
 * The shipped alerting chain for end-to-end tests: a webhook receiver, Alertmanager with
 * deploy/alertmanager/alertmanager.yml (group timers 1 s), and Prometheus with
 * deploy/prometheus/ (scrape and evaluation 1 s, `for:` 2 s) scraping the given
 * sidecars and sending to that Alertmanager.
 */
export interface OnCallChain {
  readonly prometheus: TestPrometheus;
  readonly alertmanager: TestAlertmanager;
  readonly receiver: WebhookReceiver;
  /** Stops whatever was started, in reverse order. */
  stop(): Promise<void>;
}

export async function startOnCallChain(sidecarPorts: readonly number[]): Promise<OnCallChain> {
  const started: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const step of started.reverse()) await step();
  };
  try {
    const receiver = await startWebhookReceiver();
    started.push(() => receiver.close());
    const alertmanager = await startAlertmanager(alertmanagerConfigFromShipped(receiver.url, '1s'));
    started.push(() => alertmanager.stop());
    const shipped = configFromShipped(
      sidecarPorts.map((p) => `127.0.0.1:${p}`),
      '1s',
    );
    if (!shipped.includes('- alertmanager:9093')) throw new Error('deploy/prometheus/prometheus.yml no longer sends to alertmanager:9093: update this helper');
    const prometheus = await startPrometheus({ config: shipped.replace('- alertmanager:9093', `- ${alertmanager.address}`), rules: rulesFromShipped('2s') });
    started.push(() => prometheus.stop());
    return { prometheus, alertmanager, receiver, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
