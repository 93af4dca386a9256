/**
 * A reader for the small YAML subset our Prometheus files use (block mappings and
 * sequences, plain and quoted scalars, `|` and `>` block scalars, `[]` and `{}`),
 * so tests can look inside alerts.yml without a YAML dependency. Anything outside
 * that subset throws with the line number rather than being misread; promtool
 * remains the judge of whether the files are valid.
 */

export type YamlValue = string | YamlValue[] | { [key: string]: YamlValue };

interface Line {
  readonly no: number;
  readonly indent: number;
  readonly text: string;
}

export class MiniYamlError extends Error {
  constructor(message: string, line?: number) {
    super(line === undefined ? message : `line ${line}: ${message}`);
    this.name = 'MiniYamlError';
  }
}

export function parseYaml(source: string): YamlValue {
  const raw = source.split(/\r?\n/);
  const reader = new Reader(raw);
  const value = reader.node(0);
  reader.expectEnd();
  return value;
}

class Reader {
  private pos = 0;
  private readonly lines: Array<Line | null>;

  constructor(private readonly raw: readonly string[]) {
    // null marks a blank or comment-only line: skipped between nodes, kept inside block scalars.
    this.lines = raw.map((text, i) => {
      const trimmed = text.trim();
      if (trimmed === '' || trimmed.startsWith('#')) return null;
      if (text.includes('\t')) throw new MiniYamlError('tab in indentation', i + 1);
      return { no: i + 1, indent: text.length - text.trimStart().length, text: trimmed };
    });
  }

  private peek(): Line | undefined {
    while (this.pos < this.lines.length && this.lines[this.pos] === null) this.pos++;
    return this.lines[this.pos] ?? undefined;
  }

  expectEnd(): void {
    const line = this.peek();
    if (line) throw new MiniYamlError(`unexpected content "${line.text}"`, line.no);
  }

  /** The node whose first line is the next one, which must be indented at least minIndent. */
  node(minIndent: number): YamlValue {
    const first = this.peek();
    if (!first || first.indent < minIndent) return '';
    return first.text.startsWith('- ') || first.text === '-' ? this.sequence(first.indent) : this.mapping(first.indent);
  }

  private sequence(indent: number): YamlValue[] {
    const items: YamlValue[] = [];
    for (let line = this.peek(); line && line.indent === indent && (line.text.startsWith('- ') || line.text === '-'); line = this.peek()) {
      const rest = line.text.slice(1).trimStart();
      if (rest === '') {
        this.pos++;
        items.push(this.node(indent + 1));
      } else if (isMappingEntry(rest)) {
        // "- key: value": the item is a mapping whose first entry shares the dash's line.
        const itemIndent = indent + (line.text.length - rest.length);
        this.lines[this.pos] = { no: line.no, indent: itemIndent, text: rest };
        items.push(this.mapping(itemIndent));
      } else {
        this.pos++;
        items.push(scalar(rest, line.no));
      }
    }
    return items;
  }

  private mapping(indent: number): { [key: string]: YamlValue } {
    const map: { [key: string]: YamlValue } = {};
    for (let line = this.peek(); line && line.indent === indent; line = this.peek()) {
      if (!isMappingEntry(line.text)) throw new MiniYamlError(`expected "key: value", got "${line.text}"`, line.no);
      const colon = entryColon(line.text);
      const key = unquoteKey(line.text.slice(0, colon).trim());
      const rest = stripComment(line.text.slice(colon + 1).trim());
      this.pos++;
      if (Object.hasOwn(map, key)) throw new MiniYamlError(`duplicate key "${key}"`, line.no);
      if (rest === '') {
        const next = this.peek();
        // A sequence may sit at the key's own indentation.
        if (next && next.indent === indent && next.text.startsWith('- ')) map[key] = this.sequence(indent);
        else map[key] = this.node(indent + 1);
      } else if (/^[|>][-+]?$/.test(rest)) {
        map[key] = this.blockScalar(indent, rest);
      } else {
        map[key] = scalar(rest, line.no);
      }
    }
    const stray = this.peek();
    if (stray && stray.indent > indent) throw new MiniYamlError(`bad indentation of "${stray.text}"`, stray.no);
    return map;
  }

  private blockScalar(parentIndent: number, header: string): string {
    const body: string[] = [];
    let blockIndent = -1;
    while (this.pos < this.raw.length) {
      const text = this.raw[this.pos] ?? '';
      const indent = text.length - text.trimStart().length;
      if (text.trim() !== '') {
        if (indent <= parentIndent) break;
        if (blockIndent < 0) blockIndent = indent;
        if (indent < blockIndent) break;
      }
      body.push(text.trim() === '' ? '' : text.slice(blockIndent));
      this.pos++;
    }
    while (body.length > 0 && body[body.length - 1] === '') body.pop();
    const joined = header.startsWith('|') ? body.join('\n') : fold(body);
    return header.endsWith('-') ? joined : `${joined}\n`;
  }
}

function fold(lines: readonly string[]): string {
  let out = '';
  for (const [i, line] of lines.entries()) {
    if (i === 0) out = line;
    else if (line === '') out += '\n';
    else out += out.endsWith('\n') || out === '' ? line : ` ${line}`;
  }
  return out;
}

/** Index of the ": " (or final ":") that ends the key, outside quotes. */
function entryColon(text: string): number {
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'") {
      if (i === 0) quote = c;
    } else if (c === ':' && (i === text.length - 1 || text[i + 1] === ' ')) {
      return i;
    }
  }
  return -1;
}

function isMappingEntry(text: string): boolean {
  return entryColon(text) > 0;
}

function unquoteKey(key: string): string {
  if (key.startsWith('"') || key.startsWith("'")) return scalar(key, 0);
  return key;
}

function stripComment(value: string): string {
  if (value.startsWith('"') || value.startsWith("'")) return value;
  const hash = value.search(/\s#/);
  return hash < 0 ? value : value.slice(0, hash).trimEnd();
}

function scalar(text: string, lineNo: number): string {
  if (text.startsWith('"')) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === 'string') return parsed;
    } catch {
      // fall through to the error below
    }
    throw new MiniYamlError(`unsupported double-quoted scalar ${text}`, lineNo);
  }
  if (text.startsWith("'")) {
    if (!text.endsWith("'") || text.length < 2) throw new MiniYamlError(`unterminated single-quoted scalar ${text}`, lineNo);
    return text.slice(1, -1).replace(/''/g, "'");
  }
  if (text === '[]' || text === '{}') return text;
  if (text.startsWith('[') || text.startsWith('{')) throw new MiniYamlError(`flow collections are not supported: ${text}`, lineNo);
  return stripComment(text);
}

/** Narrowing helpers for tests: throw with the path when the shape is not as expected. */
export function asMap(value: YamlValue | undefined, where: string): { [key: string]: YamlValue } {
  if (value === '{}') return {};
  if (value === undefined || typeof value === 'string' || Array.isArray(value)) throw new MiniYamlError(`${where} is not a mapping`);
  return value;
}

export function asList(value: YamlValue | undefined, where: string): YamlValue[] {
  if (value === '[]') return [];
  if (!Array.isArray(value)) throw new MiniYamlError(`${where} is not a list`);
  return value;
}

export function asString(value: YamlValue | undefined, where: string): string {
  if (typeof value !== 'string') throw new MiniYamlError(`${where} is not a scalar`);
  return value;
}
