// Deleting UDP conntrack entries of endpoints that went away. UDP has no connection end, so a client
// that keeps sending would stay pinned to the dead endpoint by its conntrack entry (kube-proxy does
// the same clean-up). Thin I/O over the `conntrack` tool, optionally inside a named network namespace
// (entered with nsenter: see runtime/cni/netexec.ts for why).
import { execFile } from "node:child_process";
import { inNetns, namedNetnsPath } from "../cni/netexec.ts";
import type { StaleUdpEndpoint } from "./stale-udp.ts";

export interface ConntrackOptions {
  netns?: string;
}

/** The `conntrack -D` arguments for one stale endpoint (exported for tests). */
export function conntrackDeleteArgs(entry: StaleUdpEndpoint): string[] {
  const v6 = entry.address.includes(":");
  const args = ["-D", "-f", v6 ? "ipv6" : "ipv4", "-p", "udp"];
  if (entry.serviceIP) args.push("--orig-dst", entry.serviceIP);
  args.push("--reply-src", entry.address, "--reply-port-src", String(entry.port));
  return args;
}

function run(args: string[], opts: ConntrackOptions): Promise<void> {
  const [cmd, argv] = opts.netns
    ? inNetns(namedNetnsPath(opts.netns), "conntrack", args)
    : ["conntrack", args];
  return new Promise((resolve, reject) => {
    execFile(cmd, argv, { encoding: "utf8", timeout: 10_000 }, (err, _stdout, stderr) => {
      // Older conntrack versions exit 1 when nothing matched; that is success for us.
      if (!err || /0 flow entries have been deleted/.test(stderr)) resolve();
      else reject(new Error(`conntrack ${args.join(" ")}: ${stderr.trim() || err.message}`));
    });
  });
}

/** Deletes the conntrack entries of every stale endpoint; one failure does not stop the others. */
export async function deleteUdpConntrack(
  entries: StaleUdpEndpoint[],
  opts: ConntrackOptions = {},
): Promise<void> {
  const seen = new Set<string>();
  const errors: string[] = [];
  for (const entry of entries) {
    const args = conntrackDeleteArgs(entry);
    const key = args.join(" ");
    if (seen.has(key)) continue;
    seen.add(key);
    await run(args, opts).catch((err: Error) => errors.push(err.message));
  }
  if (errors.length > 0) throw new Error(errors.join("; "));
}
