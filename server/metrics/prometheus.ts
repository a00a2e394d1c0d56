/**
 * Just enough of the Prometheus text format for a handful of counters and gauges; a client
 * library would bring a registry, default process metrics and a dependency for ten lines of output.
 */
type Labels = Record<string, string>;

interface Series {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  values: Map<string, { labels: Labels; value: number }>;
}

function labelKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}="${labels[k]!.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
}

export class MetricSet {
  private readonly series = new Map<string, Series>();
  private readonly collectors = new Set<() => void>();

  /**
   * Runs `fn` before each render, so a figure kept elsewhere (the bytes of a socket still open) is
   * current when scraped, without counting on every read. Returns the function that removes it.
   */
  collect(fn: () => void): () => void {
    this.collectors.add(fn);
    return () => void this.collectors.delete(fn);
  }

  private get(name: string, help: string, type: Series['type']): Series {
    let s = this.series.get(name);
    if (!s) this.series.set(name, (s = { name, help, type, values: new Map() }));
    return s;
  }

  add(name: string, help: string, by = 1, labels: Labels = {}): void {
    const s = this.get(name, help, 'counter');
    const key = labelKey(labels);
    const v = s.values.get(key);
    if (v) v.value += by;
    else s.values.set(key, { labels, value: by });
  }

  set(name: string, help: string, value: number, labels: Labels = {}): void {
    this.get(name, help, 'gauge').values.set(labelKey(labels), { labels, value });
  }

  /** Drops one label set of a gauge (a tunnel that went away). */
  forget(name: string, labels: Labels): void {
    this.series.get(name)?.values.delete(labelKey(labels));
  }

  value(name: string, labels: Labels = {}): number {
    return this.series.get(name)?.values.get(labelKey(labels))?.value ?? 0;
  }

  render(): string {
    for (const fn of this.collectors) fn();
    const out: string[] = [];
    for (const s of this.series.values()) {
      out.push(`# HELP ${s.name} ${s.help}`, `# TYPE ${s.name} ${s.type}`);
      for (const { labels, value } of s.values.values()) {
        const key = labelKey(labels);
        out.push(`${s.name}${key ? `{${key}}` : ''} ${Number.isFinite(value) ? value : 0}`);
      }
    }
    return out.join('\n') + '\n';
  }
}
