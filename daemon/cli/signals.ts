import type { Logger } from 'pino';

/**
 * The one place long-running commands install their signal handlers. The first
 * SIGTERM/SIGINT starts a graceful stop; a second one while stopping exits at once
 * (an operator pressing Ctrl-C twice means it). Resolves when the stop has finished.
 */
export function installSignalHandlers(logger: Logger, stop: () => Promise<void>): Promise<void> {
  return new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, 'Second signal while stopping: exiting now');
        process.exit(130);
      }
      stopping = true;
      logger.info({ signal }, 'Stopping');
      stop()
        .catch((error: unknown) => logger.error({ err: error }, 'Stop failed'))
        .finally(() => {
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
          logger.info('Stopped');
          resolve();
        });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
