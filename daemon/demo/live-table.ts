import type { Writable } from 'node:stream';
import type { ProjectView } from '../view/compute-view';
import { renderStatus } from '../view/text-tables';
import { describeChanges, viewSignature } from './cluster-changes';

/**
 * The demo's live view of the cluster. On a terminal the table stays at the bottom
 * and is redrawn in place (cursor up, clear to the end of the screen) on every
 * refresh, with story and change lines scrolling above it. Piped (a file, a CI log)
 * nothing is redrawn: change lines are appended, and the table is printed again
 * only when a status, a streak, a reason or the leader changed.
 */
const CLEAR_TO_END = '\x1b[0J';

export interface LiveTableOptions {
  out: Writable;
  /** Redraw in place (a terminal) or append (piped). */
  tty: boolean;
  /** Terminal width; the table is cut to fit it. */
  columns?: number;
}

function clock(): string {
  const d = new Date();
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

export class LiveTable {
  private drawnLines = 0;
  private lastTable = '';
  private lastSignature: string | undefined;
  private lastView: ProjectView | undefined;
  private readonly width: number;

  constructor(private readonly o: LiveTableOptions) {
    // One column short of the terminal: a line exactly as wide wraps on some terminals.
    this.width = Math.max(60, Math.min((o.columns ?? 80) - 1, 110));
  }

  /** The latest view the table was drawn from. */
  get view(): ProjectView | undefined {
    return this.lastView;
  }

  /** A line of the story or of the commentary, kept above the table. */
  say(line: string): void {
    this.writeAbove(`${line}\n`);
  }

  update(view: ProjectView): void {
    const changes = describeChanges(this.lastView, view).map((c) => `  [${clock()}] ${c}\n`);
    this.lastView = view;
    const table = renderStatus(view, { width: this.width });
    const signature = viewSignature(view);
    if (this.o.tty) {
      this.lastTable = table;
      this.writeAbove(changes.join(''));
      return;
    }
    if (changes.length > 0) this.o.out.write(changes.join(''));
    if (signature !== this.lastSignature) {
      this.lastSignature = signature;
      this.o.out.write(`\n${table}\n`);
    }
  }

  /** Leaves the last table on screen and stops redrawing it. */
  finish(): void {
    this.drawnLines = 0;
  }

  private writeAbove(text: string): void {
    if (!this.o.tty) {
      if (text) this.o.out.write(text);
      return;
    }
    const up = this.drawnLines > 0 ? `\x1b[${this.drawnLines}F${CLEAR_TO_END}` : '';
    const table = this.lastTable ? `\n${this.lastTable}` : '';
    this.drawnLines = table ? table.split('\n').length - 1 : 0;
    this.o.out.write(`${up}${text}${table}`);
  }
}
