// Helpers for kernel tests: they need root, `nft` and `ip`. Outside CI a machine without them skips
// those tests (reported as skipped); in CI a missing prerequisite is a failure, never a silent skip.
import { execFileSync } from "node:child_process";
import type { Test } from "uvu";

function hasCommand(name: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export const kernelMissing: string | null =
  process.getuid?.() !== 0
    ? "kernel tests need root"
    : !hasCommand("nft")
      ? "kernel tests need nft (apt-get install nftables)"
      : !hasCommand("ip")
        ? "kernel tests need ip (apt-get install iproute2)"
        : null;

if (kernelMissing && process.env.CI) throw new Error(`${kernelMissing}; CI must run them`);

/** Registers a kernel test on the suite, or a skipped one when the machine cannot run it. */
export function kernelTest(suite: Test, name: string, handler: () => Promise<void> | void): void {
  if (kernelMissing) suite.skip(name, handler);
  else suite(name, handler);
}
