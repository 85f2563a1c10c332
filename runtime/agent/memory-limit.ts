// The memory limit of the agent's cgroup (a DaemonSet's resources.limits.memory), as the kernel
// enforces it: cgroup v2's memory.max or cgroup v1's memory.limit_in_bytes, as a container sees
// them at /sys/fs/cgroup. Null when there is none or it cannot be read.

import { readFileSync } from "node:fs";

const FILES = ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"];
/** cgroup v1 writes "no limit" as a page-rounded 2^63 − 1. */
const UNLIMITED = 2 ** 62;

/** The limit in bytes from one file's text; null for "max" or v1's huge "no limit" value. */
export function parseMemoryLimit(text: string): number | null {
  const t = text.trim();
  if (t === "max" || !/^\d+$/.test(t)) return null;
  const n = Number(t);
  return n >= UNLIMITED ? null : n;
}

export function cgroupMemoryLimit(): number | null {
  for (const file of FILES) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    return parseMemoryLimit(text);
  }
  return null;
}
