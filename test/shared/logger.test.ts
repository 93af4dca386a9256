import { Writable } from 'node:stream';
import { createLogger } from '../../shared/logger';

function capture(): { lines: string[]; stream: Writable } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _e, cb) {
      lines.push(chunk.toString('utf8'));
      cb();
    },
  });
  return { lines, stream };
}

describe('logger redaction', () => {
  it('censors secret fields at any of the first three levels', () => {
    const { lines, stream } = capture();
    const log = createLogger({ destination: stream });
    log.info(
      { password: 'p1', credential: { ciphertext: 'c1' }, req: { headers: { authorization: 'Bearer t1' } }, a: { b: { adminToken: 't2' } } },
      'Fixed message',
    );
    const text = lines.join('');
    for (const secret of ['p1', 'c1', 'Bearer t1', 't2']) expect(text).not.toContain(secret);
    expect(text).toContain('[redacted]');
  });

  it('logs errors without the properties client libraries attach (command arguments)', () => {
    const { lines, stream } = capture();
    const log = createLogger({ destination: stream });
    const error = Object.assign(new Error('ERR script failed'), {
      code: 'ERR',
      command: { name: 'evalsha', args: ['sha', '4', 'k', '{"ciphertext":"SECRETCIPHER"}'] },
      cause: Object.assign(new Error('inner'), { args: ['SECRETARG'] }),
    });
    log.warn({ err: error }, 'Redis failed');
    const entry = JSON.parse(lines.join('')) as { err: { message: string; code: string; cause: { message: string } } };
    expect(entry.err.message).toBe('ERR script failed');
    expect(entry.err.code).toBe('ERR');
    expect(entry.err.cause.message).toBe('inner');
    expect(lines.join('')).not.toContain('SECRETCIPHER');
    expect(lines.join('')).not.toContain('SECRETARG');
  });
});
