import { spanWords, utc } from './format';
import { esc } from './html';
import type { NodeTimeline, TimelineCell } from './timeline';

/**
 * The 24-hour timelines as inline SVG drawn on the server: one row per node, one
 * rectangle per slot, green for success, red for failure (the codes in its hover
 * title), grey for no attempt. Only failed cells carry a title, and a cell's size
 * comes from the style sheet (one unit of the viewBox), which keeps a 100-node page
 * small; the row's own label says what the cells span.
 */
function cell(c: TimelineCell, i: number, cellMs: number): string {
  if (c.state !== 'fail') return `<rect x="${i}" class="${c.state}"/>`;
  const title = `${utc(c.start)} + ${spanWords(cellMs)}: ${c.reasons.join(', ')}`;
  return `<rect x="${i}" class="fail" data-codes="${esc(c.reasons.join(','))}"><title>${esc(title)}</title></rect>`;
}

function row(t: NodeTimeline): string {
  const n = t.cells.length;
  const first = t.cells[0]?.start ?? 0;
  return (
    `<div class="tlrow" data-node="${esc(t.node)}"><span title="${esc(t.node)}">${esc(t.node)}</span>` +
    `<svg class="tl" viewBox="0 0 ${n} 1" preserveAspectRatio="none" shape-rendering="crispEdges" role="img" aria-label="${esc(`${t.node}: ${n} slots of ${spanWords(t.cellMs)} from ${utc(first)}`)}">` +
    t.cells.map((c, i) => cell(c, i, t.cellMs)).join('') +
    '</svg></div>'
  );
}

/** "heartbeat slot (2 h 0 min)", or for a short interval "30 min (900 heartbeat slots of 2 s)". */
function cellWords(cellMs: number, intervalMs: number): string {
  if (cellMs <= intervalMs) return `heartbeat slot (${spanWords(intervalMs)})`;
  return `${spanWords(cellMs)} (${Math.round(cellMs / intervalMs)} heartbeat slots of ${spanWords(intervalMs)})`;
}

export function renderTimelines(timelines: readonly NodeTimeline[], intervalMs: number): string {
  const span = timelines[0] ? cellWords(timelines[0].cellMs, intervalMs) : '';
  return (
    '<section id="timeline"><h2>Last 24 hours</h2>' +
    `<p class="legend muted">One cell per ${esc(span)}, oldest left:<i class="ok"></i>success<i class="fail"></i>failure (hover for the code)<i class="none"></i>no attempt</p>` +
    timelines.map(row).join('') +
    '</section>'
  );
}
