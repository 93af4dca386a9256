import { createLogger } from '../../../shared/logger';
import { startAuthServer } from '../../authserver/auth-server';
import { ExitCode, intFlag, stringFlag, type CommandContext } from '../command';

export async function run(ctx: CommandContext): Promise<number> {
  const config = ctx.config(['authserver'], {
    'authserver.port': intFlag(ctx, 'port', 0),
    'authserver.host': stringFlag(ctx, 'host'),
  });
  const logger = createLogger({ level: config.log.level });
  const server = await startAuthServer({ config, logger });

  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      logger.info({ signal }, 'shutting down on signal');
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  await server.close();
  return ExitCode.OK;
}
