import { NAME_PATTERN } from '../../shared/redis/keys';

/**
 * The query string of `GET /`: `node` filters the failure history, `page` pages it
 * (1 = newest). Anything else in the query is ignored; a bad value is refused with a
 * message that names it and says what is accepted, so a mistyped link is not
 * silently shown as something else.
 */
export interface PageQuery {
  node: string | null;
  page: number;
}

/** Enough to read back a month of 2-hourly failures of one node; `failures --node` goes further. */
export const MAX_PAGE = 50;
export const HISTORY_PAGE_SIZE = 25;

export class PageQueryError extends Error {
  readonly code = 'ERR_PAGE_QUERY';
}

export function parsePageQuery(search: URLSearchParams): PageQuery {
  const node = search.get('node');
  const page = search.get('page');
  const problems: string[] = [];
  if (node !== null && node !== '' && !NAME_PATTERN.test(node)) problems.push('node must be a node id (letters, digits, dot, dash, underscore; at most 64)');
  let pageNumber = 1;
  if (page !== null && page !== '') {
    pageNumber = /^\d{1,3}$/.test(page) ? Number(page) : 0;
    if (pageNumber < 1 || pageNumber > MAX_PAGE)
      problems.push(`page must be a whole number from 1 to ${MAX_PAGE} (older failures: fdl-cloudauth failures --node ID)`);
  }
  if (problems.length > 0) throw new PageQueryError(problems.join('; '));
  return { node: node === null || node === '' ? null : node, page: pageNumber };
}

/** The link to another view of the page, keeping only what differs from the default. */
export function pageHref(query: PageQuery): string {
  const params = new URLSearchParams();
  if (query.node !== null) params.set('node', query.node);
  if (query.page > 1) params.set('page', String(query.page));
  const text = params.toString();
  return text === '' ? '/' : `/?${text}`;
}
