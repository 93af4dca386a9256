import type { Readable, Writable } from 'node:stream';
import { PasswordInputError } from './password-input-error';

/**
 * How `register` gets the password without it ever being a command-line argument
 * (visible in `ps` and shell history): the first line of stdin (`--password-stdin`, for
 * scripts and secret managers), or typed at a terminal with echo off.
 */

/** Longer than any password worth storing (190 UTF-8 bytes); stops reading a runaway pipe. */
const MAX_LINE_BYTES = 4096;

/** The first line of a stream, without its line ending; stops reading after it. */
export function readFirstLine(stream: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (error: Error | null, line?: string) => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.pause();
      if (error) reject(error);
      else resolve(line ?? '');
    };
    const onData = (chunk: Buffer | string) => {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      const newline = buffer.indexOf(0x0a);
      if (newline >= 0) {
        chunks.push(buffer.subarray(0, newline));
        finish(null, Buffer.concat(chunks).toString('utf8').replace(/\r$/, ''));
        return;
      }
      chunks.push(buffer);
      size += buffer.length;
      if (size > MAX_LINE_BYTES) finish(new PasswordInputError(`the first line of stdin is longer than ${MAX_LINE_BYTES} bytes: pass only the password`));
    };
    const onEnd = () => finish(null, Buffer.concat(chunks).toString('utf8').replace(/\r$/, ''));
    const onError = (error: Error) => finish(new PasswordInputError(`cannot read the password from stdin: ${error.message}`));
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
    stream.resume();
  });
}

interface TtyInput extends Readable {
  isTTY?: boolean;
  isRaw?: boolean;
  setRawMode?(mode: boolean): unknown;
}

/**
 * Reads one line from a terminal in raw mode, echoing nothing. Backspace edits,
 * Enter ends, Ctrl-C and Ctrl-D (on an empty line) abort.
 */
export function promptHidden(input: TtyInput, output: Writable, prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    if (!input.isTTY || !input.setRawMode) {
      reject(new PasswordInputError('stdin is not a terminal', 2));
      return;
    }
    const wasRaw = Boolean(input.isRaw);
    let typed: string[] = [];
    // Inside an escape sequence (arrow keys, function keys): ESC [ ... final letter or ~.
    let escaping = false;
    // Raw mode before the prompt: whatever is typed once the prompt shows is never echoed.
    input.setRawMode(true);
    output.write(prompt);
    const finish = (error: Error | null) => {
      input.off('data', onData);
      input.setRawMode?.(wasRaw);
      input.pause();
      output.write('\n');
      if (error) reject(error);
      else resolve(typed.join(''));
      typed = [];
    };
    const onData = (chunk: Buffer | string) => {
      for (const char of typeof chunk === 'string' ? chunk : chunk.toString('utf8')) {
        if (escaping) {
          if (/[A-Za-z~]/.test(char)) escaping = false;
          continue;
        }
        if (char === '\u001b') {
          escaping = true;
          continue;
        }
        if (char === '\r' || char === '\n') return finish(null);
        if (char === '\u0003') return finish(new PasswordInputError('aborted', 130));
        if (char === '\u0004') {
          if (typed.length === 0) return finish(new PasswordInputError('no password typed', 1));
          continue;
        }
        if (char === '\u007f' || char === '\b') {
          typed.pop();
          continue;
        }
        // Other control characters are not password characters.
        if (char < ' ') continue;
        typed.push(char);
      }
    };
    input.on('data', onData);
    input.resume();
  });
}
