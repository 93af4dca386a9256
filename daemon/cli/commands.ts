import type { Command } from './command';
import { authserverCommand } from './commands/authserver';

/**
 * The commands `fdl-cloudauth --help` lists: only those that work. A command of
 * SPEC §6 appears here when it is built, never before.
 */
export const COMMANDS: readonly Command[] = [authserverCommand];
