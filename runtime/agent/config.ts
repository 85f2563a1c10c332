// Agent configuration: a YAML/JSON file and command-line flags; a flag wins over the same key in the
// file. Every bad value is reported naming the flag or the file key.
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { parseCniSection } from "../cni/config.ts";
import { defaultHealthzBindAddress, parseBindAddress } from "../health/address.ts";
import { type LogFormat, type LogLevel, logFormats, logLevels } from "../log/logger.ts";
import { defaultPolicyConfig, type PolicyConfig, parsePolicySection } from "../policy/config.ts";
import { parseCIDR, parseIP } from "../store/ip.ts";
import { parseDuration } from "./duration.ts";
import { applyLbSection, defaultLbConfig, type LbConfig } from "./lb-config.ts";

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
  /** The LB planner: built-in, or Wasm plugins. */
  lb: LbConfig;
  /** Pod networking (the CNI server and node rules), when present and not `enabled: false`; see docs/cni.md. */
  cni: Record<string, unknown>;
  /** NetworkPolicy enforcement (with pod networking); see docs/policy.md. */
  policy: PolicyConfig;
  /** Where the one-agent-per-namespace lock files live (default /run/wasmplane). */
  lockDir?: string;
}

export const defaultStatusAddress = "unix:/run/wasmplane/status.sock";
/** As kube-proxy's default. */
export const defaultMetricsBindAddress = "127.0.0.1:10249";

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

export const agentUsage = `usage: wasmplane agent [options]

  --manifests DIR          watch a directory of YAML/JSON Kubernetes objects (standalone mode)
  --kubernetes             watch the Kubernetes API ($KUBECONFIG, ~/.kube/config or in-cluster)
  --kubeconfig FILE        watch the Kubernetes API of this kubeconfig
  --apiserver URL          reach the API server at URL instead of the kubeconfig's server (in-cluster: the
                           \`kubernetes\` Service, which a node without kube-proxy reaches only through our rules)
  --netns NAME             program the named network namespace instead of the current one
  --node-name NAME         this node's name (default: the host name)
  --node-ip IP             a node IP for NodePorts (repeatable; default: the namespace's global addresses)
  --node-zone ZONE         this node's topology zone (default: its Node's topology.kubernetes.io/zone label)
  --cluster-cidr CIDR      pod CIDR of the cluster (repeatable; one per family)
  --service-cidr CIDR      service CIDR (repeatable; unallocated IPs in it are dropped)
  --masquerade-all         masquerade all traffic to services
  --min-sync-interval D    coalesce changes: at most one sync per D (default 1s)
  --resync-interval D      full resync with kernel read-back every D (default 5m; 0 disables)
  --status-address ADDR    unix:/path or 127.0.0.1:port for status (default ${defaultStatusAddress}; "" disables)
  --healthz-bind-address A IP:port for /healthz, /livez, /readyz (default ${defaultHealthzBindAddress}; "" disables;
                           with --netns, inside that namespace)
  --metrics-bind-address A IP:port for Prometheus /metrics (default ${defaultMetricsBindAddress}; "" disables;
                           with --netns, inside that namespace)
  --log-format F           text (default) or json
  --log-level L            debug, info (default), warn or error
  --lb-default ALG         LB algorithm for services without an lb.wasmplane.io/algorithm annotation
  --lb-plugin-dir DIR      load the LB plugins (.wasm) in DIR through the Wasm host (SIGHUP reloads)
  --lb-lock FILE           the lock file pinning those plugins (default build/plugins/plugins.lock.json)
  --config FILE            YAML/JSON file with the same options (camelCase keys); flags win`;

const flagOptions = {
  manifests: { type: "string" },
  kubernetes: { type: "boolean" },
  kubeconfig: { type: "string" },
  apiserver: { type: "string" },
  netns: { type: "string" },
  "node-name": { type: "string" },
  "node-ip": { type: "string", multiple: true },
  "node-zone": { type: "string" },
  "cluster-cidr": { type: "string", multiple: true },
  "service-cidr": { type: "string", multiple: true },
  "masquerade-all": { type: "boolean" },
  "min-sync-interval": { type: "string" },
  "resync-interval": { type: "string" },
  "status-address": { type: "string" },
  "healthz-bind-address": { type: "string" },
  "metrics-bind-address": { type: "string" },
  "log-format": { type: "string" },
  "log-level": { type: "string" },
  "status-socket": { type: "string" },
  "lb-default": { type: "string" },
  "lb-plugin-dir": { type: "string" },
  "lb-lock": { type: "string" },
  config: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export class ConfigError extends Error {}

type Where = (key: string) => string;

function ips(values: unknown, where: string): string[] {
  if (!Array.isArray(values)) throw new ConfigError(`${where}: must be a list of IP addresses`);
  return values.map((v, i) => {
    const ip = typeof v === "string" ? parseIP(v) : null;
    if (!ip) throw new ConfigError(`${where}[${i}]: must be an IP address, got ${JSON.stringify(v)}`);
    return ip.text;
  });
}

function cidrs(values: unknown, where: string): string[] {
  if (!Array.isArray(values)) throw new ConfigError(`${where}: must be a list of CIDRs`);
  return values.map((v, i) => {
    const cidr = typeof v === "string" ? parseCIDR(v.trim()) : null;
    if (!cidr)
      throw new ConfigError(`${where}[${i}]: must be a CIDR such as 10.244.0.0/16, got ${JSON.stringify(v)}`);
    return cidr.text;
  });
}

function duration(value: unknown, where: string): number {
  const ms = parseDuration(value);
  if (ms === null)
    throw new ConfigError(
      `${where}: must be a duration such as 500ms, 1s or 2m, got ${JSON.stringify(value)}`,
    );
  return ms;
}

function text(value: unknown, where: string): string {
  if (typeof value !== "string")
    throw new ConfigError(`${where}: must be a string, got ${JSON.stringify(value)}`);
  return value;
}

function section(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new ConfigError(`${where}: must be an object`);
  return value as Record<string, unknown>;
}

function bindAddress(value: string, where: string): string {
  try {
    parseBindAddress(value, where);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  return value;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], where: string): T {
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value))
    throw new ConfigError(`${where}: must be one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`);
  return value as T;
}

/** An http(s) URL with a host, as a kubeconfig's `server`; returned without a trailing slash. */
function apiServerURL(value: string, where: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== "https:" && url.protocol !== "http:") || !url.hostname)
    throw new ConfigError(
      `${where}: must be a URL such as https://192.0.2.10:6443, got ${JSON.stringify(value)}`,
    );
  return value.replace(/\/+$/, "");
}

/** A comma-separated string is accepted where a list is expected (as kube-proxy's flags do). */
function list(value: unknown): unknown {
  return typeof value === "string"
    ? value
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean)
    : value;
}

/** Applies the keys of a config file (already parsed) onto `config`. */
export function applyConfigFile(config: AgentConfig, file: Record<string, unknown>, name: string): void {
  const where: Where = (key) => `config ${name}: ${key}`;
  for (const [key, value] of Object.entries(file)) {
    switch (key) {
      case "nodeName":
        config.nodeName = text(value, where(key));
        break;
      case "nodeIPs":
      case "nodeIP":
        config.nodeIPs = ips(list(value), where(key));
        break;
      case "nodeZone":
        config.nodeZone = text(value, where(key));
        break;
      case "clusterCIDRs":
      case "clusterCIDR":
        config.clusterCIDRs = cidrs(list(value), where(key));
        break;
      case "serviceCIDRs":
      case "serviceCIDR":
        config.serviceCIDRs = cidrs(list(value), where(key));
        break;
      case "masqueradeAll":
        if (typeof value !== "boolean") throw new ConfigError(`${where(key)}: must be true or false`);
        config.masqueradeAll = value;
        break;
      case "manifests":
        config.manifests = text(value, where(key));
        break;
      case "kubernetes":
        if (typeof value !== "boolean") throw new ConfigError(`${where(key)}: must be true or false`);
        config.kubernetes = value;
        break;
      case "kubeconfig":
        config.kubeconfig = text(value, where(key));
        break;
      case "apiServer":
        config.apiServer = apiServerURL(text(value, where(key)), where(key));
        break;
      case "netns":
        config.netns = text(value, where(key));
        break;
      case "minSyncInterval":
        config.minSyncIntervalMs = duration(value, where(key));
        break;
      case "resyncInterval":
        config.resyncIntervalMs = duration(value, where(key));
        break;
      case "statusAddress":
        config.statusAddress = text(value, where(key));
        break;
      case "healthzBindAddress":
        config.healthzBindAddress = bindAddress(text(value, where(key)), where(key));
        break;
      case "metricsBindAddress":
        config.metricsBindAddress = bindAddress(text(value, where(key)), where(key));
        break;
      case "logFormat":
        config.logFormat = oneOf(value, logFormats, where(key));
        break;
      case "logLevel":
        config.logLevel = oneOf(value, logLevels, where(key));
        break;
      case "lb":
        try {
          applyLbSection(config.lb, value, where(key));
        } catch (err) {
          throw new ConfigError((err as Error).message);
        }
        break;
      case "cni":
        config.cni = section(value, where(key));
        try {
          parseCniSection(config.cni, where(key));
        } catch (err) {
          throw new ConfigError((err as Error).message);
        }
        break;
      case "lockDir":
        config.lockDir = text(value, where(key));
        break;
      case "policy":
        try {
          config.policy = parsePolicySection(value, where(key));
        } catch (err) {
          throw new ConfigError((err as Error).message);
        }
        break;
      default:
        throw new ConfigError(`${where(key)}: unknown option`);
    }
  }
}

export function loadConfigFile(path: string): Record<string, unknown> {
  let textContent: string;
  try {
    textContent = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`config ${path}: cannot read: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = path.endsWith(".json") ? JSON.parse(textContent) : parseYaml(textContent);
  } catch (err) {
    throw new ConfigError(`config ${path}: ${(err as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  return section(parsed, `config ${path}`);
}

export type ParsedAgentArgs = { help: true } | { help: false; config: AgentConfig };

/** Parses `wasmplane agent` arguments; reads the --config file when given. */
export function parseAgentArgs(args: string[], readFile = loadConfigFile): ParsedAgentArgs {
  let values: ReturnType<
    typeof parseArgs<{ options: typeof flagOptions; args: string[]; strict: true }>
  >["values"];
  try {
    ({ values } = parseArgs({ args, options: flagOptions, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  if (values.help) return { help: true };
  const config = defaultConfig();
  if (values.config) applyConfigFile(config, readFile(values.config), values.config);
  if (values.manifests !== undefined) config.manifests = values.manifests;
  if (values.kubernetes !== undefined) config.kubernetes = values.kubernetes;
  if (values.kubeconfig !== undefined) config.kubeconfig = values.kubeconfig;
  if (values.apiserver !== undefined) config.apiServer = apiServerURL(values.apiserver, "--apiserver");
  if (values.netns !== undefined) config.netns = values.netns;
  if (values["node-name"] !== undefined) config.nodeName = values["node-name"];
  if (values["node-zone"] !== undefined) config.nodeZone = values["node-zone"];
  if (values["node-ip"])
    config.nodeIPs = ips(
      values["node-ip"].flatMap((v) => list(v) as string[]),
      "--node-ip",
    );
  if (values["cluster-cidr"]) {
    config.clusterCIDRs = cidrs(
      values["cluster-cidr"].flatMap((v) => list(v) as string[]),
      "--cluster-cidr",
    );
  }
  if (values["service-cidr"]) {
    config.serviceCIDRs = cidrs(
      values["service-cidr"].flatMap((v) => list(v) as string[]),
      "--service-cidr",
    );
  }
  if (values["masquerade-all"] !== undefined) config.masqueradeAll = values["masquerade-all"];
  if (values["min-sync-interval"] !== undefined) {
    config.minSyncIntervalMs = duration(values["min-sync-interval"], "--min-sync-interval");
  }
  if (values["resync-interval"] !== undefined) {
    config.resyncIntervalMs = duration(values["resync-interval"], "--resync-interval");
  }
  if (values["lb-default"] !== undefined) config.lb.default = values["lb-default"];
  if (values["lb-plugin-dir"] !== undefined) config.lb.pluginDir = values["lb-plugin-dir"];
  if (values["lb-lock"] !== undefined) config.lb.lockFile = values["lb-lock"];
  const status = values["status-address"] ?? values["status-socket"];
  if (status !== undefined) config.statusAddress = status;
  if (values["healthz-bind-address"] !== undefined)
    config.healthzBindAddress = bindAddress(values["healthz-bind-address"], "--healthz-bind-address");
  if (values["metrics-bind-address"] !== undefined)
    config.metricsBindAddress = bindAddress(values["metrics-bind-address"], "--metrics-bind-address");
  if (values["log-format"] !== undefined)
    config.logFormat = oneOf(values["log-format"], logFormats, "--log-format");
  if (values["log-level"] !== undefined)
    config.logLevel = oneOf(values["log-level"], logLevels, "--log-level");
  if (config.netns !== undefined && !/^[A-Za-z0-9_.-]+$/.test(config.netns)) {
    throw new ConfigError(`--netns: must be a network namespace name, got ${JSON.stringify(config.netns)}`);
  }
  const manifestSource = Boolean(config.manifests);
  const apiSource = config.kubernetes || Boolean(config.kubeconfig);
  if (!manifestSource && !apiSource) {
    throw new ConfigError("no source: give --manifests DIR, --kubernetes or --kubeconfig FILE");
  }
  if (manifestSource && apiSource) {
    throw new ConfigError("two sources: give either --manifests or --kubernetes/--kubeconfig");
  }
  return { help: false, config };
}
