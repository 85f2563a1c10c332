// Waiting for the agent, through its status endpoint only: for the successful sync of a manifest
// change, and for quiet before a re-probe. Every wait is bounded.
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AgentStatus } from "../../runtime/agent/status.ts";
import { fetchStatus } from "../../runtime/agent/status-server.ts";

/** How long the agent may take to sync a change it was given before the harness says so. */
const syncTimeoutMs = 5000;
/** After this long without a sync, the harness nudges the directory watcher (see nudgeWatcher). */
const nudgeAfterMs = 750;

export interface SyncWait {
  /** Why no successful sync of the change could be confirmed; null when it could. */
  problem: string | null;
  /** The agent noticed the change only after a nudge. */
  nudged: boolean;
}

export async function statusOrNull(address: string): Promise<AgentStatus | null> {
  try {
    return await fetchStatus(address, 2000);
  } catch {
    return null;
  }
}

/**
 * Waits until the agent's store changed after `sinceMs` (the source delivered the write) and a
 * successful sync started after that change. Any sync after the write is not enough: the agent also
 * syncs on its own (a follow-up that deletes flushed chains), possibly before the source, which waits
 * for a written file to settle, delivered it. A failed sync is not final (the agent retries); its
 * error becomes the problem if no success follows in time.
 */
export async function syncAfter(address: string, sinceMs: number, nudge: () => void): Promise<SyncWait> {
  const deadline = Date.now() + syncTimeoutMs;
  let problem = `no sync started within ${syncTimeoutMs}ms after the manifests changed`;
  let nudged = false;
  while (Date.now() < deadline) {
    const status = await statusOrNull(address);
    const last = status?.lastSync;
    const changedAt = status?.storeChangedAt ? Date.parse(status.storeChangedAt) : 0;
    if (last && changedAt > sinceMs && Date.parse(last.at) >= changedAt) {
      if (last.ok) return { problem: null, nudged };
      problem = `the sync after the change failed: ${last.error}`;
    }
    if (!nudged && Date.now() - sinceMs > nudgeAfterMs) {
      nudge();
      nudged = true;
    }
    await sleep(50);
  }
  return { problem, nudged };
}

/**
 * Creates the dotfile `.nudge-<n>` in the manifest directory and removes `.nudge-<n-1>`: the source
 * ignores dotfiles, but its watcher reports the new name and the source re-reads every manifest.
 * Needed because Node 20's recursive fs.watch on Linux watches each file's inode: a manifest replaced
 * by rename is reported at most once (the watch stays on the unlinked inode) and the directory watch
 * reports only names it has not seen, so later renames of the same name go unnoticed until the
 * source's 10 s rescan. A bug of the manifest source; the harness counts how often it needed this.
 */
export function nudgeWatcher(manifests: string, n: number): void {
  writeFileSync(join(manifests, `.nudge-${n}`), "");
  rmSync(join(manifests, `.nudge-${n - 1}`), { force: true });
}

/** Waits (at most 5 s) until no sync has run for 500 ms: before a re-probe, to rule out a race. */
export async function waitQuiet(address: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const last = (await statusOrNull(address))?.lastSync;
    if (last && Date.now() - (Date.parse(last.at) + last.durationMs) > 500) return;
    await sleep(100);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
