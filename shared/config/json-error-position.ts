/**
 * Where a JSON text stops being JSON, as a line and a column (both from 1), so that a
 * configuration file's syntax error can be named without quoting the file.
 *
 * JSON.parse's own message cannot be used: since Node 20 (V8 11) it quotes up to ten
 * characters around the error ("Unexpected token 'x', \"…\" is not valid JSON"), and a
 * configuration file holds an admin token or a Redis URL with its password. Its position
 * is not always given either, and its wording changes between Node versions. This is a
 * small recursive-descent reader of RFC 8259 that reports the offset of the first byte
 * it cannot take; it is called only after JSON.parse failed.
 */
class Stop extends Error {
  constructor(readonly at: number) {
    super('json syntax');
  }
}

const WHITESPACE = new Set([' ', '\t', '\n', '\r']);

class Reader {
  i = 0;
  constructor(private readonly s: string) {}

  private ws(): void {
    while (this.i < this.s.length && WHITESPACE.has(this.s[this.i] as string)) this.i++;
  }

  private expect(ch: string): void {
    if (this.s[this.i] !== ch) throw new Stop(this.i);
    this.i++;
  }

  private word(w: string): void {
    for (const ch of w) this.expect(ch);
  }

  private string(): void {
    this.expect('"');
    for (;;) {
      const ch = this.s[this.i];
      if (ch === undefined || ch < ' ') throw new Stop(this.i);
      this.i++;
      if (ch === '"') return;
      if (ch === '\\') {
        const esc = this.s[this.i];
        if (esc === 'u') {
          this.i++;
          for (let k = 0; k < 4; k++) {
            if (!/[0-9a-fA-F]/.test(this.s[this.i] ?? '')) throw new Stop(this.i);
            this.i++;
          }
        } else if (esc !== undefined && '"\\/bfnrt'.includes(esc)) this.i++;
        else throw new Stop(this.i);
      }
    }
  }

  private number(): void {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(this.s.slice(this.i, this.i + 400));
    if (!m || m[0] === '' || m[0] === '-') throw new Stop(this.i);
    this.i += m[0].length;
  }

  value(): void {
    this.ws();
    const ch = this.s[this.i];
    if (ch === '{') {
      this.i++;
      this.ws();
      if (this.s[this.i] === '}') return void this.i++;
      for (;;) {
        this.ws();
        this.string();
        this.ws();
        this.expect(':');
        this.value();
        this.ws();
        if (this.s[this.i] === ',') this.i++;
        else return this.expect('}');
      }
    }
    if (ch === '[') {
      this.i++;
      this.ws();
      if (this.s[this.i] === ']') return void this.i++;
      for (;;) {
        this.value();
        this.ws();
        if (this.s[this.i] === ',') this.i++;
        else return this.expect(']');
      }
    }
    if (ch === '"') return this.string();
    if (ch === 't') return this.word('true');
    if (ch === 'f') return this.word('false');
    if (ch === 'n') return this.word('null');
    this.number();
  }

  document(): void {
    this.value();
    this.ws();
    if (this.i < this.s.length) throw new Stop(this.i);
  }
}

/** The line and column (from 1) of the first character that is not JSON; undefined when the text is JSON. */
export function jsonErrorPosition(text: string): { line: number; column: number } | undefined {
  try {
    new Reader(text).document();
    return undefined;
  } catch (error) {
    // Nesting deeper than the stack: no position, still no text.
    if (!(error instanceof Stop)) return undefined;
    const before = text.slice(0, error.at);
    const line = before.split('\n').length;
    return { line, column: error.at - (before.lastIndexOf('\n') + 1) + 1 };
  }
}
