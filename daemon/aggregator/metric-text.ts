/**
 * Prometheus text exposition (format 0.0.4) written directly: HELP and TYPE once per
 * family, then its samples, every sample carrying the common labels first. Used for
 * the cluster series, rendered once per leader view (see cluster-metrics.ts); values
 * are finite numbers, label values escaped as the format requires.
 */
export type Labels = Readonly<Record<string, string>>;

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

const NEEDS_ESCAPE = /[\\"\n]/;

function escapeLabelValue(value: string): string {
  // Ids and catalog names never need it: test once instead of three replaces a label.
  return NEEDS_ESCAPE.test(value) ? escapeHelp(value).replace(/"/g, '\\"') : value;
}

/** `name="value"`, escaped: render a label shared by many samples once. */
export function label(name: string, value: string): string {
  return `${name}="${escapeLabelValue(value)}"`;
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

export class MetricText {
  private readonly lines: string[] = [];
  private readonly common: string;

  constructor(
    private readonly prefix: string,
    common: Labels,
  ) {
    this.common = Object.entries(common)
      .map(([name, value]) => `${name}="${escapeLabelValue(value)}"`)
      .join(',');
  }

  family(name: string, type: 'gauge' | 'counter', help: string): void {
    this.lines.push(`# HELP ${this.prefix}${name} ${escapeHelp(help)}`, `# TYPE ${this.prefix}${name} ${type}`);
  }

  sample(name: string, labels: Labels, value: number): void {
    let text = '';
    for (const key in labels) text += `${text ? ',' : ''}${label(key, labels[key] as string)}`;
    this.rendered(name, text, value);
  }

  /** A sample whose own labels are already rendered (`label()`, joined by commas). */
  rendered(name: string, labels: string, value: number): void {
    const all = this.common && labels ? `${this.common},${labels}` : this.common || labels;
    this.lines.push(`${this.prefix}${name}${all ? `{${all}}` : ''} ${formatValue(value)}`);
  }

  toString(): string {
    return this.lines.length === 0 ? '' : `${this.lines.join('\n')}\n`;
  }
}
