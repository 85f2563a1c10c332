// Series whose values are kept elsewhere (the agent's state, a plugin worker's counters) and read
// when /metrics is scraped: a gauge filled by `collect`, and a counter set from a cumulative reading.
import { Counter, Gauge, type Registry } from "prom-client";

export type Collect = (this: Gauge) => void;
export type Labels = Record<string, string>;

export function gauge(
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[],
  collect: Collect,
): void {
  new Gauge({ name, help, labelNames, registers: [registry], collect });
}

/** A counter whose values are kept elsewhere (cumulative since start): read at scrape time. */
export function counter(
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[],
  read: () => [Labels, number][],
): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.inc(labels, value);
    },
  });
}
