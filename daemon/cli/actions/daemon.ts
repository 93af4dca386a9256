import { createLogger } from '../../../shared/logger';
import { Daemon } from '../../daemon';
import { ExitCode, intFlag, stringFlag, type CommandContext } from '../command';
import { installSignalHandlers } from '../signals';

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
  return ExitCode.OK;
}
