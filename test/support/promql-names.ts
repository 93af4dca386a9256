/**
 * Finds the metric names (and the label names they are matched on) in a PromQL
 * expression, so tests can hold alerts and dashboards to the metric list of the
 * SPEC. A tokenizer, not a parser: it knows that `name(` is a function, that `sum`
 * is an aggregation (even as `sum by (x) (...)`), that `by (...)` lists labels and
 * that `[5m]` is a range, which is all it needs.
 */

export interface MetricReference {
  readonly metric: string;
  /** Label names used in the selector's matchers, e.g. `status` in `{status="failed"}`. */
  readonly labels: readonly string[];
}

type Token = { kind: 'ident'; text: string } | { kind: 'braces'; text: string } | { kind: 'punct'; text: string } | { kind: 'other' };

const LABEL_LIST_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const AGGREGATORS = new Set(['sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile']);
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'atan2', 'inf', 'nan', ...LABEL_LIST_KEYWORDS, ...AGGREGATORS]);

function readQuoted(text: string, start: number): number {
  const quote = text[start];
  let i = start + 1;
  while (i < text.length && text[i] !== quote) i += text[i] === '\\' && quote !== '`' ? 2 : 1;
  return i + 1;
}

function readEnclosed(text: string, start: number, close: string): number {
  let i = start + 1;
  while (i < text.length && text[i] !== close) {
    const c = text[i] ?? '';
    i = c === '"' || c === "'" || c === '`' ? readQuoted(text, i) : i + 1;
  }
  return i + 1;
}

function tokenize(expr: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i] ?? '';
    if (/\s/.test(c)) {
      i++;
    } else if (c === '#') {
      // A PromQL comment runs to the end of the line.
      while (i < expr.length && expr[i] !== '\n') i++;
    } else if (c === '"' || c === "'" || c === '`') {
      i = readQuoted(expr, i);
      tokens.push({ kind: 'other' });
    } else if (c === '{') {
      const end = readEnclosed(expr, i, '}');
      tokens.push({ kind: 'braces', text: expr.slice(i + 1, end - 1) });
      i = end;
    } else if (c === '[') {
      i = readEnclosed(expr, i, ']');
      tokens.push({ kind: 'other' });
    } else if (c === '$') {
      // Grafana variable ($project, ${project}, $__rate_interval).
      i++;
      if (expr[i] === '{') i = readEnclosed(expr, i, '}');
      else while (i < expr.length && /\w/.test(expr[i] ?? '')) i++;
      tokens.push({ kind: 'other' });
    } else if (/[0-9.]/.test(c)) {
      while (i < expr.length && /[\w.]/.test(expr[i] ?? '')) i++;
      tokens.push({ kind: 'other' });
    } else if (/[a-zA-Z_:]/.test(c)) {
      const start = i;
      while (i < expr.length && /[\w:]/.test(expr[i] ?? '')) i++;
      tokens.push({ kind: 'ident', text: expr.slice(start, i) });
    } else {
      tokens.push({ kind: 'punct', text: c });
      i++;
    }
  }
  return tokens;
}

function matcherLabels(braces: string): string[] {
  const labels: string[] = [];
  const re = /([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)/g;
  for (let m = re.exec(braces); m; m = re.exec(braces)) labels.push(m[1] ?? '');
  return labels;
}

/** Every metric selector of the expression, in order of appearance. */
export function metricReferences(expr: string): MetricReference[] {
  const tokens = tokenize(expr);
  const refs: MetricReference[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (!token) continue;
    const next = tokens[i + 1];
    if (token.kind === 'braces') {
      // A bare selector: its name can only be given as __name__.
      const name = /__name__\s*=\s*"([^"]+)"/.exec(token.text)?.[1];
      refs.push({ metric: name ?? '{}', labels: matcherLabels(token.text).filter((l) => l !== '__name__') });
      continue;
    }
    if (token.kind !== 'ident') continue;
    const word = token.text;
    const opensParen = next?.kind === 'punct' && next.text === '(';
    if (LABEL_LIST_KEYWORDS.has(word.toLowerCase())) {
      if (opensParen) {
        // Skip the label list up to its closing parenthesis.
        let j = i + 2;
        while (j < tokens.length && !(tokens[j]?.kind === 'punct' && (tokens[j] as { text: string }).text === ')')) j++;
        i = j;
      }
      continue;
    }
    if (KEYWORDS.has(word.toLowerCase()) || opensParen) continue;
    if (next?.kind === 'braces') {
      refs.push({ metric: word, labels: matcherLabels(next.text) });
      i++;
    } else {
      refs.push({ metric: word, labels: [] });
    }
  }
  return refs;
}

/**
 * The PromQL queries inside a Prometheus alert template: the format strings of
 * `printf "..."` (with %q/%s/%v placeholders turned into a value), which the
 * template passes to `query`.
 */
export function templateQueries(template: string): string[] {
  const out: string[] = [];
  const re = /printf\s+"((?:[^"\\]|\\.)*)"/g;
  for (let m = re.exec(template); m; m = re.exec(template)) {
    const format = JSON.parse(`"${m[1] ?? ''}"`) as string;
    out.push(format.replace(/%q/g, '"x"').replace(/%[sdv]/g, 'x'));
  }
  return out;
}
