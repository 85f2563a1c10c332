// Network namespaces for tests: unique names, always removed.
import { execFileSync } from "node:child_process";

let counter = 0;

/** A name no other test process uses: prefix, process id and a counter. */
export function uniqueNetnsName(prefix: string): string {
  counter++;
  return `wpt-${prefix}-${process.pid}-${counter}`;
}

export function createNetns(name: string): void {
  execFileSync("ip", ["netns", "add", name]);
  execFileSync("ip", ["-n", name, "link", "set", "lo", "up"]);
}

export function deleteNetns(name: string): void {
  try {
    execFileSync("ip", ["netns", "delete", name], { stdio: "ignore" });
  } catch {
    // already gone
  }
}

/** Runs `body` with fresh namespaces named after `prefixes`, deleting them afterwards whatever happens. */
export async function withNetns<T>(
  prefixes: string[],
  body: (names: string[]) => Promise<T> | T,
): Promise<T> {
  const names: string[] = [];
  try {
    for (const prefix of prefixes) {
      const name = uniqueNetnsName(prefix);
      createNetns(name);
      names.push(name);
    }
    return await body(names);
  } finally {
    for (const name of names) deleteNetns(name);
  }
}

/** Runs a command inside a namespace and returns its stdout. */
export function inNetns(name: string, command: string[], input?: string): string {
  return execFileSync("ip", ["netns", "exec", name, ...command], { input, encoding: "utf8" });
}
