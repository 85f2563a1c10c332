// A CPU profile of part of a benchmark (bench/policy.ts POLICY_BENCH_PROFILE, bench/service-sync.ts
// SERVICE_SYNC_PROFILE): the inspector's sampling profiler, written as DIR/NAME.cpuprofile (open it
// in Chrome's DevTools, or summarise it by self and total time per function).
import { mkdirSync, writeFileSync } from "node:fs";
import * as inspector from "node:inspector";
import { join } from "node:path";

/** Starts profiling when `dir` is set; the returned function stops and writes DIR/`name`.cpuprofile. */
export async function startProfile(
  dir: string | undefined,
): Promise<((name: string) => Promise<void>) | undefined> {
  if (!dir) return undefined;
  const session = new inspector.Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) =>
      session.post(method, params, (err, result) => (err ? reject(err) : resolve(result))),
    );
  await post("Profiler.enable");
  await post("Profiler.setSamplingInterval", { interval: 100 });
  await post("Profiler.start");
  return async (name) => {
    const { profile } = (await post("Profiler.stop")) as { profile: object };
    session.disconnect();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
  };
}
