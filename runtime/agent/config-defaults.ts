// The agent's configuration as the agent uses it, and its defaults: what a key of the config file or
// a flag does not set.
import { hostname } from "node:os";
import { defaultHealthzBindAddress } from "../health/address.ts";
import type { LogFormat, LogLevel } from "../log/logger.ts";
import { defaultPolicyConfig, type PolicyConfig } from "../policy/config.ts";
import { defaultLbConfig, type LbConfig } from "./lb-config.ts";

export const defaultStatusAddress = "unix:/run/wasmplane/status.sock";
/** As kube-proxy's default. */
export const defaultMetricsBindAddress = "127.0.0.1:10249";

export interface AgentConfig {
  nodeName: string;
  /** Node IPs for NodePorts; empty means "every global address of the node namespace" (found at start). */
  nodeIPs: string[];
  nodeZone?: string;
  clusterCIDRs: string[];
  serviceCIDRs: string[];
  masqueradeAll: boolean;
  /** Standalone source: a directory of manifests. */
  manifests?: string;
  /** Kubernetes API source: true for the default kubeconfig ($KUBECONFIG, ~/.kube/config, or in-cluster). */
  kubernetes: boolean;
  /** Kubernetes API source from this kubeconfig file. */
  kubeconfig?: string;
  /** The API server's URL, replacing the kubeconfig's (in-cluster: the `kubernetes` Service's ClusterIP). */
  apiServer?: string;
  /** Program this named network namespace instead of the agent's own. */
  netns?: string;
  /** Bursts of changes are coalesced: at most one sync per interval. */
  minSyncIntervalMs: number;
  /** Periodic full resync: reads the kernel table back and heals drift. 0 disables. */
  resyncIntervalMs: number;
  /** "unix:/path", "/path" or "127.0.0.1:port"; "" disables the status endpoint. */
  statusAddress: string;
  /** kube-proxy's health endpoint (/healthz, /livez, /readyz): "IP:port"; "" disables it. */
  healthzBindAddress: string;
  /** Prometheus /metrics, kube-proxy's --metrics-bind-address: "IP:port"; "" disables it. */
  metricsBindAddress: string;
  /** "text" for a terminal, "json" for log collectors (the DaemonSet). */
  logFormat: LogFormat;
  logLevel: LogLevel;
  /** The Service rule shape; unset: the planner's default (runtime/services/config.ts). */
  services?: { shape?: "chains" | "maps" };
  /** The LB planner: built-in, or Wasm plugins. */
  lb: LbConfig;
  /** Pod networking (the CNI server and node rules), when present and not `enabled: false`; see docs/cni.md. */
  cni: Record<string, unknown>;
  /** NetworkPolicy enforcement (with pod networking); see docs/policy.md. */
  policy: PolicyConfig;
  /** Where the one-agent-per-namespace lock files live (default /run/wasmplane). */
  lockDir?: string;
}

export function defaultConfig(): AgentConfig {
  return {
    nodeName: hostname(),
    nodeIPs: [],
    clusterCIDRs: [],
    serviceCIDRs: [],
    masqueradeAll: false,
    kubernetes: false,
    minSyncIntervalMs: 1000,
    resyncIntervalMs: 300_000,
    statusAddress: defaultStatusAddress,
    healthzBindAddress: defaultHealthzBindAddress,
    metricsBindAddress: defaultMetricsBindAddress,
    logFormat: "text",
    logLevel: "info",
    lb: defaultLbConfig(),
    cni: {},
    policy: defaultPolicyConfig(),
  };
}
