// One `wrk` run in a network namespace: a new connection per request (`Connection: close`), bounded
// in time, parsed into the rate, the request count and the errors (socket errors and non-2xx/3xx).
import { execFileSync } from "node:child_process";

export interface WrkRun {
  rate: number;
  requests: number;
  errors: number;
  /** Set when wrk did not finish or printed no rate (the run is left out of the medians). */
  failed?: string;
}

export interface WrkOptions {
  ns: string;
  url: string;
  seconds: number;
  connections: number;
  /** A command wrk runs under inside the namespace (say `taskset -c 0`). */
  prefix?: string[];
}

/** Runs wrk once; a run that fails or prints no rate is returned with `failed`, not thrown. */
export function runWrk(o: WrkOptions): WrkRun {
  try {
    const out = execFileSync(
      "ip",
      [
        "netns",
        "exec",
        o.ns,
        ...(o.prefix ?? []),
        "timeout",
        "-k",
        "5",
        String(o.seconds + 15),
        "wrk",
        "--timeout",
        "2s",
        "-t1",
        `-c${o.connections}`,
        `-d${o.seconds}s`,
        "-H",
        "Connection: close",
        o.url,
      ],
      { encoding: "utf8", timeout: (o.seconds + 40) * 1000 },
    );
    const rate = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
    const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
    if (!Number.isFinite(rate) || !Number.isFinite(requests))
      throw new Error(`wrk in ${o.ns} to ${o.url}: unexpected output: ${out}`);
    const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
    const errors = (socket ? socket.slice(1).reduce((n, x) => n + Number(x), 0) : 0) + non2xx;
    return { rate, requests, errors };
  } catch (err) {
    return { rate: Number.NaN, requests: 0, errors: 0, failed: (err as Error).message.split("\n")[0] };
  }
}
