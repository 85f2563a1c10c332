// Background processes of a dev cluster: started detached with their output in a log file and
// their pid in a pid file, so that a later `devcluster stop` (another process) can end them.
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

export interface Daemon {
  name: string;
  binary: string;
  args: string[];
  log: string;
  pidFile: string;
  /** A string the process's command line must contain for its pid to be trusted as ours. */
  marker: string;
}

function commandLine(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
  } catch {
    return null;
  }
}

/** The pid of the running daemon, or null (no pid file, process gone, or the pid was reused). */
export function runningPid(d: Pick<Daemon, "pidFile" | "marker">): number | null {
  if (!existsSync(d.pidFile)) return null;
  const pid = Number(readFileSync(d.pidFile, "utf8").trim());
  if (!Number.isInteger(pid) || pid <= 0) return null;
  const cmd = commandLine(pid);
  return cmd?.includes(d.marker) ? pid : null;
}

/** Starts the daemon detached (it outlives this process); its output is appended to its log. */
export function startDaemon(d: Daemon): number {
  const existing = runningPid(d);
  if (existing) throw new Error(`${d.name} is already running (pid ${existing}, ${d.pidFile})`);
  mkdirSync(dirname(d.log), { recursive: true });
  mkdirSync(dirname(d.pidFile), { recursive: true });
  const out = openSync(d.log, "a");
  try {
    const child = spawn(d.binary, d.args, { detached: true, stdio: ["ignore", out, out] });
    if (child.pid === undefined) throw new Error(`${d.name}: could not start ${d.binary}`);
    child.unref();
    writeFileSync(d.pidFile, `${child.pid}\n`);
    return child.pid;
  } finally {
    closeSync(out);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie (exited, not yet reaped by its parent) still answers signal 0.
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/**
 * Stops the daemon: SIGTERM, then SIGKILL after `graceMs`. Resolves with what happened; removes
 * only the pid file.
 */
export async function stopDaemon(
  d: Pick<Daemon, "name" | "pidFile" | "marker">,
  graceMs = 15_000,
): Promise<"stopped" | "killed" | "not running"> {
  const pid = runningPid(d);
  if (!pid) {
    rmSync(d.pidFile, { force: true });
    return "not running";
  }
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  let result: "stopped" | "killed" = "stopped";
  if (alive(pid)) {
    process.kill(pid, "SIGKILL");
    result = "killed";
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  }
  rmSync(d.pidFile, { force: true });
  return result;
}
