// One agent per table: two agents programming the same namespace's `inet wasmplane` table would undo
// each other's transactions. The agent takes a lock file per namespace holding its PID, created
// exclusively; a file left by an agent that died (SIGKILL) is taken over when its PID is not alive.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const DEFAULT_LOCK_DIR = "/run/wasmplane";

export interface AgentLock {
  readonly path: string;
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function holder(path: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(path, "utf8").trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function tryCreate(path: string): boolean {
  try {
    writeFileSync(path, `${process.pid}\n`, { flag: "wx" });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw new Error(`agent lock ${path}: ${(err as Error).message}`);
  }
}

/** Takes the lock for `netns` (absent: the agent's own namespace) or throws naming the holder. */
export function acquireAgentLock(netns: string | undefined, dir = DEFAULT_LOCK_DIR): AgentLock {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `agent-${netns ?? "host"}.lock`);
  for (let attempt = 0; attempt < 2; attempt++) {
    if (tryCreate(path)) {
      return {
        path,
        release: () => {
          if (holder(path) === process.pid) rmSync(path, { force: true });
        },
      };
    }
    const pid = holder(path);
    if (pid !== null && pid !== process.pid && alive(pid))
      throw new Error(
        `another agent (pid ${pid}) programs ${netns ? `network namespace ${netns}` : "this namespace"} (lock ${path}); stop it first`,
      );
    // Left by an agent that is gone: take it over (one more exclusive create decides a race).
    rmSync(path, { force: true });
  }
  throw new Error(`agent lock ${path}: another agent took it while this one was starting`);
}
