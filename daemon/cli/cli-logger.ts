import pino from 'pino';
import { createLogger, type Logger } from '../../shared/logger';

/**
 * The logger of the CLI commands: on stderr, so stdout carries only the
 * command's answer. Fields only ever name projects, algorithms and key ids.
 */
export function cliLogger(level: string, command: string): Logger {
  return createLogger({ level, destination: pino.destination({ dest: 2, sync: true }) }).child({ part: 'cli', command });
}
