import { recoveryLoss } from './status-json';
import { byCode, byName, CONNECTION_FAILED, INCORRECT_LICENSE_FORMAT, type CatalogEntry } from '../../shared/catalog';
import type { FailureEntry, Reason } from '../../shared/redis/records';
import { slotRoom, type LicenseView, type ProjectView, type UnknownMember } from './compute-view';

/**
 * Human renderings of the project view and the failure list, for `status`,
 * `failures` and the demo's live table. Every line fits `width` columns (80 by
 * default): long messages are cut with an ellipsis rather than wrapped, so a table
 * stays a table; a node id is never cut (a longer one widens its table). Times are
 * shown in local time and relative to Redis time.
 */
export interface TextOptions {
  width?: number;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export function fit(text: string, width: number): string {
  if (width <= 0) return '';
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`;
}

const pad2 = (n: number) => String(n).padStart(2, '0');

export function localDateTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}

/** "45s", "12m", "3h", "5d": the largest unit, rounded down. */
export function shortSpan(ms: number): string {
  const abs = Math.max(0, ms);
  if (abs < MINUTE) return `${Math.floor(abs / SECOND)}s`;
  if (abs < HOUR) return `${Math.floor(abs / MINUTE)}m`;
  if (abs < 2 * DAY) return `${Math.floor(abs / HOUR)}h`;
  return `${Math.floor(abs / DAY)}d`;
}

/** "19h 58m", "2d 4h", "45s": two units, for the time to lockout. */
export function humanSpan(ms: number): string {
  const abs = Math.max(0, Math.floor(ms));
  if (abs < MINUTE) return `${Math.floor(abs / SECOND)}s`;
  if (abs < HOUR) return `${Math.floor(abs / MINUTE)}m`;
  if (abs < DAY) return `${Math.floor(abs / HOUR)}h ${Math.floor((abs % HOUR) / MINUTE)}m`;
  return `${Math.floor(abs / DAY)}d ${Math.floor((abs % DAY) / HOUR)}h`;
}

/** "3h ago 14:03" within a day, "5d ago 01-05" before: relative first, local time after. */
export function whenCell(ms: number | null, now: number): string {
  if (ms === null) return 'never';
  const d = new Date(ms);
  const local = now - ms < DAY ? `${pad2(d.getHours())}:${pad2(d.getMinutes())}` : `${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
  return `${shortSpan(now - ms)} ago ${local}`;
}

export function reasonCell(reason: Pick<Reason, 'code' | 'name'> | null): string {
  if (!reason) return '-';
  return reason.code === null ? reason.name : `${reason.code} ${reason.name}`;
}

interface Column {
  title: string;
  /** The widest the column may be; narrower when its content is. */
  max: number;
  /** The narrowest it may be squeezed to when the line is too long. */
  min: number;
  align?: 'left' | 'right';
  /**
   * Never cut (a node id: operators copy it into --node). As wide as its content; what
   * it holds beyond min widens the table instead of squeezing the other columns.
   */
  whole?: boolean;
}

/**
 * Lays rows out in columns as wide as their content (up to max); when the line is
 * wider than `width`, squeezes the column with the most room above its min, one
 * character at a time, so the first thing cut is the longest text. A `whole` column
 * is never cut: the lines run past `width` by what it holds beyond its min.
 */
function table(columns: Column[], rows: string[][], width: number, gap = 2): string[] {
  const content = columns.map((c, i) => Math.max(c.title.length, ...rows.map((r) => (r[i] ?? '').length)));
  const widths = columns.map((c, i) => (c.whole ? (content[i] as number) : Math.min(c.max, content[i] as number)));
  // The other columns get the room they would have with the whole column at its min.
  const limit = width + columns.reduce((extra, c, i) => extra + (c.whole ? Math.max(0, (widths[i] as number) - c.min) : 0), 0);
  const total = () => widths.reduce((a, b) => a + b, 0) + gap * (columns.length - 1);
  while (total() > limit) {
    let pick = -1;
    let room = 0;
    widths.forEach((w, i) => {
      const slack = columns[i]?.whole ? 0 : w - (columns[i]?.min ?? w);
      if (slack > room) {
        room = slack;
        pick = i;
      }
    });
    if (pick < 0) break;
    widths[pick] = (widths[pick] as number) - 1;
  }
  const line = (cells: string[]) =>
    fit(
      cells
        .map((cell, i) => {
          const w = widths[i] as number;
          const text = fit(cell, w);
          return columns[i]?.align === 'right' ? text.padStart(w) : text.padEnd(w);
        })
        .join(' '.repeat(gap))
        .trimEnd(),
      limit,
    );
  return [line(columns.map((c) => c.title)), ...rows.map(line)];
}

export function renderStatus(view: ProjectView, options: TextOptions = {}): string {
  const width = options.width ?? 80;
  const now = view.now;
  const lockout =
    view.lockoutSeconds === null
      ? ''
      : view.status === 'failed'
        ? ' — registration failed: run `fdl-cloudauth register`'
        : // A healthy project is counting down to nothing: say its guarantee, calmly, as the page does.
          view.status === 'registered'
          ? ` — stays registered ${humanSpan(view.lockoutSeconds * 1000)} even if every attempt fails`
          : ` — lockout in ${humanSpan(view.lockoutSeconds * 1000)} if every attempt fails from now`;
  const license = view.license;
  const licenseText =
    license.expiresAt === null && license.capacity === null
      ? 'unknown (no successful authentication yet)'
      : [
          license.expiresAt === null
            ? null
            : `expires ${localDateTime(license.expiresAt)} (${license.expiresAt >= now ? `in ${shortSpan(license.expiresAt - now)}` : `${shortSpan(now - license.expiresAt)} ago`})`,
          license.capacity === null ? null : slotsText(license),
        ]
          .filter(Boolean)
          .join(', ');
  const header = [
    `Project  ${view.project}${view.account ? ` (account ${view.account})` : ''}`,
    `Status   ${view.status.toUpperCase()}${lockout}`,
    `Policy   ${view.policy}: failed at ${view.threshold} consecutive failures, heartbeat every ${shortSpan(view.intervalMs)}`,
    `License  ${licenseText}`,
    `Leader   ${view.leader ? `${view.leader.instance} (epoch ${view.leader.epoch})` : 'none'}`,
  ].map((l) => fit(l, width));
  const room = slotRoomWarning(license);
  if (room) header.push(...labelled('Slots', room, width));
  if (view.recovery) {
    header.push(...labelled('Recovery', recoveryLoss(view.recovery.at), width));
  }
  if (view.unknownMembers.length > 0) {
    header.push(...labelled('Unknown', unknownMembersText(view.unknownMembers), width));
  }
  if (view.nodes.length === 0) return `${[...header, '', 'No node has reported yet.'].join('\n')}\n`;
  const rows = view.nodes.map((n) => [
    n.id,
    n.status,
    String(n.consecutiveFailures),
    reasonCell(n.reason),
    whenCell(n.lastAttemptAt, now),
    whenCell(n.lastSuccessAt, now),
  ]);
  const columns: Column[] = [
    { title: 'NODE', max: 24, min: 12, whole: true },
    { title: 'STATUS', max: 12, min: 12 },
    { title: 'FAILS', max: 5, min: 5, align: 'right' },
    { title: 'REASON', max: 27, min: 22 },
    { title: 'LAST ATTEMPT', max: 14, min: 12 },
    { title: 'LAST SUCCESS', max: 14, min: 12 },
  ];
  return `${[...header, '', ...table(columns, rows, width, 1), '', 'REASON is the first failure of the current streak.'].join('\n')}\n`;
}

/** Members whose record is missing or unreadable, in plain words (R5: counted, never as failed). */
/** Capacity and bound of the account (across its projects), and the slots free: "3 of 5 slots bound, 2 free". */
export function slotsText(license: Pick<LicenseView, 'capacity' | 'bound'>): string {
  const { capacity, bound } = license;
  if (capacity === null) return 'slots unknown';
  const free = bound === null ? '' : `, ${Math.max(0, capacity - bound)} free`;
  return `${bound ?? '?'} of ${capacity} slots bound${free}`;
}

/** What the slots leave no room for, and what to do (the runbook's CapacityLow and CapacityExhausted); null while there is room. */
export function slotRoomWarning(license: Pick<LicenseView, 'capacity' | 'bound'>): string | null {
  switch (slotRoom(license)) {
    case 'full':
      return 'every slot of the account is bound: a new or moved node is refused (30007) until one is unbound (fdl-cloudauth unbind --node ID) or the capacity is raised.';
    case 'no-spare':
      return 'no slot to spare for a migration (the old server keeps its slot while the new one binds): unbind a node that no longer runs, or have the capacity raised.';
    default:
      return null;
  }
}

export function unknownMembersText(members: readonly UnknownMember[]): string {
  const list = members.map((m) => `${m.id} (record ${m.why})`).join(', ');
  return `${list}: counted as members of the project, never as failed, until their sidecar records an attempt again.`;
}

export function renderFailures(entries: readonly FailureEntry[], options: TextOptions = {}): string {
  const width = options.width ?? 80;
  if (entries.length === 0) return 'No failures recorded.\n';
  // A line per failure with its attempt id (what the server's and the sidecar's logs
  // name), and the message whole below it, wrapped: a cut message loses the part that
  // says what was wrong (an IP, a host, a version).
  const rows = entries.map((e) => [localDateTime(e.at), e.node, e.code === null ? '-' : String(e.code), e.name, e.attemptId || '-']);
  const columns: Column[] = [
    { title: 'AT (LOCAL)', max: 16, min: 16 },
    { title: 'NODE', max: 24, min: 8, whole: true },
    { title: 'CODE', max: 5, min: 5 },
    { title: 'NAME', max: 25, min: 14 },
    { title: 'ATTEMPT', max: 40, min: 18 },
  ];
  const [header = '', ...lines] = table(columns, rows, width);
  const out = [header];
  lines.forEach((line, i) => {
    const message = (entries[i]?.message ?? '').replace(/\s+/g, ' ').trim();
    out.push(line, ...(message ? wrapLong(message, width, '    ') : ['    (no message)']));
  });
  return `${out.join('\n')}\n`;
}

/** The catalog entry a recorded failure is shown with (R7). */
export function catalogEntryOf(entry: Pick<Reason, 'code' | 'name'>): CatalogEntry {
  if (entry.code === null) return byName(entry.name) ?? CONNECTION_FAILED;
  return byCode(entry.code);
}

/** A header entry: its label in the first column, its text wrapped beside it. */
function labelled(label: string, text: string, width: number): string[] {
  const indent = ' '.repeat(9);
  const lines = wrap(text, width, indent);
  return lines.map((line, i) => (i === 0 ? `${label.padEnd(indent.length)}${line.slice(indent.length)}` : line));
}

/** wrap(), with a word longer than the line (a URL, a base64 blob) split rather than overflowing. */
function wrapLong(text: string, width: number, indent: string): string[] {
  const room = Math.max(10, width - indent.length);
  const words = text.split(/\s+/).flatMap((w) => (w.length > room ? (w.match(new RegExp(`.{1,${room}}`, 'gu')) ?? [w]) : [w]));
  return wrap(words.join(' '), width, indent);
}

function wrap(text: string, width: number, indent: string): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(indent + line);
  return lines;
}

/** "View Error Details": definition and troubleshooting steps of each distinct reason. */
export function renderDetails(entries: readonly FailureEntry[], options: TextOptions = {}): string {
  const width = options.width ?? 80;
  const seen = new Map<string, FailureEntry>();
  for (const e of entries) {
    const key = `${e.code}:${e.name}`;
    if (!seen.has(key)) seen.set(key, e);
  }
  const blocks: string[] = [];
  for (const e of seen.values()) {
    const c = catalogEntryOf(e);
    const title = c === INCORRECT_LICENSE_FORMAT ? `${c.name} (raw code ${e.code})` : reasonCell(e);
    blocks.push(
      [
        ...wrap(`${title} — ${c.definition}`, width, ''),
        ...wrap(`Check: ${c.steps.check}`, width, '  '),
        ...wrap(`Change: ${c.steps.change}`, width, '  '),
        ...wrap(`Contact: ${c.steps.contact}`, width, '  '),
      ].join('\n'),
    );
  }
  return blocks.length === 0 ? '' : `\nError details\n\n${blocks.join('\n\n')}\n`;
}
