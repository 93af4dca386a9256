import type { Command } from './command';
import { cryptoSwitchCommand } from './commands/crypto-switch';
import { keysCommand } from './commands/keys';
import { registerCommand } from './commands/register';
import { daemonCommand } from './commands/daemon';
import { authserverCommand } from './commands/authserver';
import { statusCommand } from './commands/status';
import { failuresCommand } from './commands/failures';
import { demoCommand } from './commands/demo';
import { unbindCommand } from './commands/unbind';
import { doctorCommand } from './commands/doctor';

/**
 * The commands `fdl-cloudauth --help` lists: only those that work. A command of
 * SPEC §6 appears here when it is built, never before.
 */
export const COMMANDS: readonly Command[] = [
  daemonCommand,
  registerCommand,
  unbindCommand,
  statusCommand,
  failuresCommand,
  cryptoSwitchCommand,
  keysCommand,
  doctorCommand,
  authserverCommand,
  demoCommand,
];
