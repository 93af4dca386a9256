import type { RedisClient } from '../../shared/redis/connection';
import type { ProjectKeys } from '../../shared/redis/keys';
import type { CorruptRecordLog } from '../view/corrupt-record-log';
import type { StatusJson } from '../view/status-json';
import { UnknownNodeError } from '../view/unknown-node-error';
import { readPageDetails } from './page-details';
import { PageQueryError, parsePageQuery } from './page-query';
import { renderPage, renderProblemPage } from './render-page';

/**
 * `GET /`: the status object `/status` serves (handed in by the HTTP server, never
 * computed here) plus the failure page and the timelines read beside it, rendered.
 * A bad query answers 400 naming the problem; Redis away answers 503; both pages keep
 * refreshing, so a page left open recovers by itself.
 */
export interface HtmlPage {
  code: number;
  html: string;
}

export interface RegistrationPageOptions {
  redis: RedisClient;
  keys: ProjectKeys;
  intervalMs: number;
  corrupt?: CorruptRecordLog;
}

export class RegistrationPage {
  constructor(private readonly o: RegistrationPageOptions) {}

  async render(status: Promise<StatusJson>, search: URLSearchParams): Promise<HtmlPage> {
    // Awaited even when the query is bad, so a rejected status is never left unhandled.
    const settled = await status.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    let query;
    try {
      query = parsePageQuery(search);
    } catch (error) {
      if (!(error instanceof PageQueryError)) throw error;
      return { code: 400, html: renderProblemPage('Bad page address', error.message, this.o.intervalMs) };
    }
    if ('error' in settled) {
      return {
        code: 503,
        html: renderProblemPage(
          'Status unavailable',
          'Redis is unreachable from this sidecar; the page refreshes by itself once it returns. /readyz says more.',
          this.o.intervalMs,
        ),
      };
    }
    try {
      return { code: 200, html: renderPage(settled.value, await readPageDetails(this.o, settled.value, query)) };
    } catch (error) {
      if (error instanceof UnknownNodeError) return { code: 404, html: renderProblemPage('Unknown node', error.message, this.o.intervalMs) };
      throw error;
    }
  }
}
