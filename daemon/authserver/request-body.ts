import type { IncomingMessage } from 'node:http';

/**
 * Reads a JSON request body with a size limit. Over the limit, buffering stops at once
 * (the rest of the body is discarded, not stored) and the caller answers 413; a
 * declared Content-Length over the limit is refused before a byte is read.
 */
export type BodyResult =
  | { readonly kind: 'json'; readonly value: unknown }
  | { readonly kind: 'too-large' }
  | { readonly kind: 'not-json'; readonly reason: string }
  | { readonly kind: 'aborted' };

export const BODY_LIMIT_BYTES = 16 * 1024;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** application/json, with or without parameters such as charset. */
export function isJsonContentType(header: string | undefined): boolean {
  if (!header) return false;
  const type = header.split(';')[0]?.trim().toLowerCase();
  return type === 'application/json';
}

export function readJsonBody(req: IncomingMessage, limit = BODY_LIMIT_BYTES): Promise<BodyResult> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.resolve({ kind: 'too-large' });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (result: BodyResult) => {
      if (settled) return;
      settled = true;
      resolve(result);
    };
    req.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > limit) {
        chunks.length = 0;
        settle({ kind: 'too-large' });
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (settled) return;
      const bytes = Buffer.concat(chunks);
      let text: string;
      try {
        text = utf8.decode(bytes);
      } catch {
        settle({ kind: 'not-json', reason: 'the body is not valid UTF-8' });
        return;
      }
      if (text.trim() === '') {
        settle({ kind: 'not-json', reason: 'the body is empty' });
        return;
      }
      try {
        settle({ kind: 'json', value: JSON.parse(text) as unknown });
      } catch {
        // V8's message quotes the body, which may hold a password: never echo it.
        settle({ kind: 'not-json', reason: 'the body is not valid JSON' });
      }
    });
    req.on('error', () => settle({ kind: 'aborted' }));
    req.on('close', () => settle({ kind: 'aborted' }));
  });
}
