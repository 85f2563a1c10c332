// Runs an agent until SIGTERM/SIGINT: status endpoint up, source watching, syncs flowing. On a signal
// it stops watching and exits, leaving the rules in place so traffic keeps flowing across restarts.
import { type RunningHealth, startHealth } from "../health/health.ts";
import type { Logger } from "../log/logger.ts";
import { AgentMetrics } from "../metrics/metrics.ts";
import { type MetricsServer, startMetricsServer } from "../metrics/server.ts";
import type { Agent } from "./agent.ts";
import type { AgentConfig } from "./config.ts";
import { acquireAgentLock } from "./lock.ts";
import { type StatusServer, startStatusServer } from "./status-server.ts";
import { createAgent, resolveConfig } from "./wiring.ts";

export interface RunningAgent {
  agent: Agent;
  config: AgentConfig;
  status: StatusServer | null;
  /** /healthz, /livez, /readyz and the healthCheckNodePort servers. */
  health: RunningHealth;
  /**
   * Prometheus /metrics, once bound (not awaited by startAgent: opening it inside --netns spawns a
   * helper, and the agent must not wait for it); null when disabled or its address was not free.
   */
  metrics: Promise<MetricsServer | null>;
  stop(): Promise<void>;
}

export async function startAgent(
  config: AgentConfig,
  log: (line: string) => void,
  options: { logger?: Logger } = {},
): Promise<RunningAgent> {
  const resolved = resolveConfig(config);
  const lock = acquireAgentLock(resolved.netns, resolved.lockDir);
  const metrics = resolved.metricsBindAddress ? new AgentMetrics() : null;
  let agent: Agent;
  try {
    agent = await createAgent(resolved, {
      log,
      ...(options.logger ? { logger: options.logger } : {}),
      ...(metrics ? { metrics } : {}),
    });
  } catch (err) {
    lock.release();
    throw err;
  }
  const status = resolved.statusAddress
    ? await startStatusServer(resolved.statusAddress, () => agent.status())
    : null;
  const health = startHealth(agent, resolved, log);
  metrics?.watch(agent.metricsState());
  const metricsStarting = metrics
    ? startMetricsServer(resolved.metricsBindAddress, metrics.registry, {
        ...(resolved.netns ? { netns: resolved.netns } : {}),
        log,
      })
    : Promise.resolve(null);
  try {
    await agent.start();
  } catch (err) {
    // A start that fails leaves the node's rules as they are and exits: stop everything createAgent
    // started (the resync clock, the CNI server), or the process would linger half-started.
    await agent.stop();
    await status?.close();
    await health.close();
    await (await metricsStarting)?.close();
    lock.release();
    throw err;
  }
  return {
    agent,
    config: resolved,
    status,
    health,
    metrics: metricsStarting,
    stop: async () => {
      await agent.stop();
      await status?.close();
      await health.close();
      await (await metricsStarting)?.close();
      lock.release();
    },
  };
}
