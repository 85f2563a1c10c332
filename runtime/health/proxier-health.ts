// kube-proxy's proxier health rule, as pure functions of the agent's sync times: healthy unless a
// change has waited longer than the health timeout (twice the sync period) without a successful sync
// ending after it. One failed sync does not make the agent unhealthy; syncs that stop keeping up do.
// Answers follow kube-proxy's /healthz and /livez bodies; /readyz is ours (the first sync is done).

export interface SyncTimes {
  /** When the oldest change still waiting for a sync was queued (epoch ms); null when none waits. */
  oldestQueuedAt: number | null;
  /** When the last successful sync ended (epoch ms); null before the first. */
  lastSuccessEndedAt: number | null;
}

export interface HealthAnswer {
  status: 200 | 503;
  body: Record<string, unknown>;
}

/** kube-proxy uses twice its sync period; ours is the resync interval (30 s, kube-proxy's default, when off). */
export function healthTimeoutMs(resyncIntervalMs: number): number {
  return 2 * (resyncIntervalMs > 0 ? resyncIntervalMs : 30_000);
}

export function proxierHealthy(times: SyncTimes, now: number, timeoutMs: number): boolean {
  return times.oldestQueuedAt === null || now - times.oldestQueuedAt < timeoutMs;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * /healthz: the proxier's health and the node's eligibility; /livez: the proxier's health alone.
 * As in kube-proxy, a healthy answer reports lastUpdated as the current time.
 */
export function healthzAnswer(
  path: "/healthz" | "/livez",
  times: SyncTimes,
  now: number,
  timeoutMs: number,
  nodeEligible: boolean,
): HealthAnswer {
  const proxier = proxierHealthy(times, now, timeoutMs);
  const healthy = path === "/healthz" ? proxier && nodeEligible : proxier;
  const body: Record<string, unknown> = {
    lastUpdated: healthy ? iso(now) : iso(times.lastSuccessEndedAt),
    currentTime: iso(now),
  };
  if (path === "/healthz") body.nodeEligible = nodeEligible;
  return { status: healthy ? 200 : 503, body };
}

/** /readyz: ready once a sync has succeeded (the node's rules are in place). */
export function readyzAnswer(times: SyncTimes, now: number): HealthAnswer {
  const ready = times.lastSuccessEndedAt !== null;
  return {
    status: ready ? 200 : 503,
    body: { ready, lastUpdated: iso(times.lastSuccessEndedAt), currentTime: iso(now) },
  };
}
