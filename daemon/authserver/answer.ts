import { byCode, Codes } from '../../shared/catalog';

/**
 * What a handler decides to send. Protocol v1 (SPEC §5) wants every answer as JSON
 * `{code, name, message, data?}`; the fault injector adds two answers that are
 * deliberately not JSON (a truncated body, a reset connection).
 *
 * Codes: problems with the *content* of a request use the catalog (10000 for a body
 * that is not JSON, too large or of the wrong content type; 10001 for bad fields);
 * problems of routing and authorization use the HTTP status as code (401, 404, 405)
 * with a descriptive name, because the catalog has no entry for them.
 */
export interface AnswerBody {
  readonly code: number;
  readonly name: string;
  readonly message: string;
  readonly data?: unknown;
}

/** Fields of the request log line a handler learned while answering. */
export interface AnswerContext {
  account?: string;
  nodeId?: string;
  requestId?: string;
}

export type Answer =
  | {
      readonly kind: 'json';
      readonly status: number;
      readonly body: AnswerBody;
      readonly context?: AnswerContext;
      readonly headers?: Readonly<Record<string, string>>;
    }
  | { readonly kind: 'malformed'; readonly context?: AnswerContext }
  | { readonly kind: 'reset'; readonly context?: AnswerContext };

/** A business answer with a catalog code: HTTP 400 for 10000/10001, 200 otherwise. */
export function business(code: number, message?: string, data?: unknown, context?: AnswerContext): Answer {
  const entry = byCode(code);
  const status = code === Codes.JSON_PARSER_ERROR || code === Codes.PARAM_INPUT_ERROR ? 400 : 200;
  const body: AnswerBody = { code, name: entry.name, message: message ?? entry.definition, ...(data === undefined ? {} : { data }) };
  return { kind: 'json', status, body, context };
}

export function ok(message: string, data?: unknown, context?: AnswerContext): Answer {
  return { kind: 'json', status: 200, body: { code: Codes.OK, name: 'OK', message, ...(data === undefined ? {} : { data }) }, context };
}

/** An answer with a catalog code but a chosen HTTP status (413, 415). */
export function withStatus(status: number, code: number, message: string): Answer {
  return { kind: 'json', status, body: { code, name: byCode(code).name, message } };
}

/** Routing / authorization / internal answers: the HTTP status is the code. */
export function httpError(status: number, name: string, message: string, context?: AnswerContext): Answer {
  return { kind: 'json', status, body: { code: status, name, message }, context };
}
