import { createLogger } from '../../../shared/logger';
import { Daemon } from '../../daemon';
import { ExitCode, intFlag, stringFlag, type CommandContext } from '../command';
import { installSignalHandlers } from '../signals';

/** How long a stopped sidecar may take to exit by itself before it exits anyway. */
const EXIT_AFTER_STOP_MS = 2000;

export async function run(ctx: CommandContext): Promise<number> {
  const config = ctx.config(['daemon'], {
    'node.id': stringFlag(ctx, 'node'),
    'http.port': intFlag(ctx, 'port'),
    'http.host': stringFlag(ctx, 'host'),
  });
  const logger = createLogger({ level: config.log.level });
  const daemon = new Daemon({ config, logger });
  const stopped = installSignalHandlers(logger, () => daemon.close());
  try {
    await daemon.start();
  } catch (error) {
    logger.fatal({ err: error }, 'Sidecar failed to start');
    await daemon.close();
    return ExitCode.FAILED;
  }
  await stopped;
  // Every part has now closed or been left behind (the agent leaves a part that does
  // not close in time, e.g. a BullMQ worker whose Redis Cluster node died mid-close).
  // What such a part still holds — a socket, a reconnect timer — must not keep a
  // sidecar that has said "Stopped" running until its supervisor kills it.
  setTimeout(() => process.exit(ExitCode.OK), EXIT_AFTER_STOP_MS).unref();
  return ExitCode.OK;
}
