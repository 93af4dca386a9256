/**
 * Escaping for the Registration page. Every string that did not come from this file's
 * own templates — node ids, messages from the authorization server, account settings —
 * goes through `esc` before it reaches the HTML, in text and in attributes alike
 * (quotes are escaped too, so one function is safe in both places).
 */
const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function esc(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  return String(value).replace(/[&<>"']/g, (c) => ENTITIES[c] as string);
}

/** A fragment id made of safe characters only, for anchors built from recorded names. */
export function anchorId(prefix: string, raw: string): string {
  return `${prefix}-${raw.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}
