// Starts the agent's health endpoints: the node-level /healthz, /livez, /readyz on
// --healthz-bind-address, and the healthCheckNodePort servers that follow each successful sync. With
// --netns both listen inside that namespace (the node the agent programs), through bind.ts's helper.
import type { Snapshot } from "../store/objects.ts";
import { parseBindAddress } from "./address.ts";
import { binderFor } from "./bind.ts";
import { type HealthServer, startHealthServer } from "./health-server.ts";
import { healthTimeoutMs, proxierHealthy, type SyncTimes } from "./proxier-health.ts";
import { ServiceHealthServers } from "./service-health.ts";

/** What the health endpoints need from the agent. */
export interface HealthSubject {
  syncTimes(): SyncTimes;
  onSynced(listener: (snapshot: Snapshot) => void): void;
}

export interface HealthConfig {
  nodeName: string;
  nodeIPs: string[];
  netns?: string;
  resyncIntervalMs: number;
  /** "" disables the node-level endpoint (the healthCheckNodePort servers stay). */
  healthzBindAddress: string;
}

export interface RunningHealth {
  server: HealthServer | null;
  services: ServiceHealthServers;
  close(): Promise<void>;
}

export function startHealth(
  agent: HealthSubject,
  config: HealthConfig,
  log: (line: string) => void,
): RunningHealth {
  const bind = binderFor(config.netns);
  const timeoutMs = healthTimeoutMs(config.resyncIntervalMs);
  const address = parseBindAddress(config.healthzBindAddress, "--healthz-bind-address");
  const server = address
    ? startHealthServer({
        address,
        bind,
        netns: config.netns,
        times: () => agent.syncTimes(),
        timeoutMs,
        log,
      })
    : null;
  const services = new ServiceHealthServers({
    nodeName: config.nodeName,
    nodeIPs: config.nodeIPs,
    bind,
    proxyHealthy: () => proxierHealthy(agent.syncTimes(), Date.now(), timeoutMs),
    log,
  });
  agent.onSynced((snapshot) => services.update(snapshot));
  return {
    server,
    services,
    close: async () => {
      await Promise.all([server?.close(), services.close()]);
    },
  };
}
