// A Prometheus histogram whose buckets are counted elsewhere (e.g. by a plugin worker, on its call
// path, without prom-client) and read at scrape time. prom-client's Histogram only counts what it
// observes itself, so this subclass keeps its name, help and type and replaces the values it exports.
import { Histogram, type Registry } from "prom-client";

type Labels = Record<string, string>;

/** One labelled series: cumulative counts per upper bound (`le`), the sum and the count. */
export interface CountedSeries {
  labels: Labels;
  bounds: readonly number[];
  cumulative: readonly number[];
  sum: number;
  count: number;
}

interface ExportedValue {
  value: number;
  labels: Labels;
  metricName: string;
}

function exportSeries(name: string, s: CountedSeries): ExportedValue[] {
  const buckets = s.bounds.map((le, i) => ({
    value: s.cumulative[i],
    labels: { ...s.labels, le: String(le) },
    metricName: `${name}_bucket`,
  }));
  return [
    ...buckets,
    { value: s.count, labels: { ...s.labels, le: "+Inf" }, metricName: `${name}_bucket` },
    { value: s.sum, labels: s.labels, metricName: `${name}_sum` },
    { value: s.count, labels: s.labels, metricName: `${name}_count` },
  ];
}

interface HistogramOptions {
  name: string;
  help: string;
  labelNames: string[];
  bounds: readonly number[];
}

type ExportedHistogram = Awaited<ReturnType<Histogram<string>["get"]>>;

class PrecountedHistogram extends Histogram<string> {
  constructor(
    private readonly options: HistogramOptions,
    registry: Registry,
    private readonly read: () => CountedSeries[],
  ) {
    super({
      name: options.name,
      help: options.help,
      labelNames: options.labelNames,
      buckets: [...options.bounds],
      registers: [registry],
    });
  }

  /** What prom-client's registry reads for the text format (it prefers this to get()). */
  async getForPromString() {
    return {
      name: this.options.name,
      help: this.options.help,
      type: "histogram",
      aggregator: "sum",
      values: this.read().flatMap((s) => exportSeries(this.options.name, s)),
    };
  }

  override async get(): Promise<ExportedHistogram> {
    // prom-client's typings declare `type` as a numeric enum that does not exist at run time (its own
    // histograms report the string "histogram", as here).
    return (await this.getForPromString()) as unknown as ExportedHistogram;
  }
}

/** Registers a histogram read from `read` at every scrape. */
export function registerPrecountedHistogram(
  registry: Registry,
  options: HistogramOptions,
  read: () => CountedSeries[],
): void {
  new PrecountedHistogram(options, registry, read);
}
