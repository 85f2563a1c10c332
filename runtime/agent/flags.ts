// The `wasmplane agent` flags: one table gives the parser's options, the --help text and the config
// key each flag sets. Flag values are checked by the config file's schema, so a flag and its key
// accept the same values; an error names the flag (`--node-ip[0]: must be an IP address, …`).
import { parseArgs } from "node:util";
import { ConfigError, formatPath, type Locate, type Path } from "../config/schema.ts";
import { defaultHealthzBindAddress } from "../health/address.ts";
import { defaultMetricsBindAddress, defaultStatusAddress } from "./config-defaults.ts";

interface Flag {
  name: string;
  /** The value's name in the help text; a flag without one is a switch (true when given). */
  arg?: string;
  /** Repeatable; each value may also be a comma-separated list. */
  multiple?: boolean;
  /** The config file key it sets (`["lb", "default"]` for lb.default); none for --config and --help. */
  key?: Path;
  /** Lines of the help text. */
  help: string[];
}

const flags: Flag[] = [
  {
    name: "manifests",
    arg: "DIR",
    key: ["manifests"],
    help: ["watch a directory of YAML/JSON Kubernetes objects (standalone mode)"],
  },
  {
    name: "kubernetes",
    key: ["kubernetes"],
    help: ["watch the Kubernetes API ($KUBECONFIG, ~/.kube/config or in-cluster)"],
  },
  {
    name: "kubeconfig",
    arg: "FILE",
    key: ["kubeconfig"],
    help: ["watch the Kubernetes API of this kubeconfig"],
  },
  {
    name: "apiserver",
    arg: "URL",
    key: ["apiServer"],
    help: [
      "reach the API server at URL instead of the kubeconfig's server (in-cluster: the",
      "`kubernetes` Service, which a node without kube-proxy reaches only through our rules)",
    ],
  },
  {
    name: "netns",
    arg: "NAME",
    key: ["netns"],
    help: ["program the named network namespace instead of the current one"],
  },
  { name: "node-name", arg: "NAME", key: ["nodeName"], help: ["this node's name (default: the host name)"] },
  {
    name: "node-ip",
    arg: "IP",
    multiple: true,
    key: ["nodeIPs"],
    help: ["a node IP for NodePorts (repeatable; default: the namespace's global addresses)"],
  },
  {
    name: "node-zone",
    arg: "ZONE",
    key: ["nodeZone"],
    help: ["this node's topology zone (default: its Node's topology.kubernetes.io/zone label)"],
  },
  {
    name: "cluster-cidr",
    arg: "CIDR",
    multiple: true,
    key: ["clusterCIDRs"],
    help: ["pod CIDR of the cluster (repeatable; one per family)"],
  },
  {
    name: "service-cidr",
    arg: "CIDR",
    multiple: true,
    key: ["serviceCIDRs"],
    help: ["service CIDR (repeatable; unallocated IPs in it are dropped)"],
  },
  { name: "masquerade-all", key: ["masqueradeAll"], help: ["masquerade all traffic to services"] },
  {
    name: "min-sync-interval",
    arg: "D",
    key: ["minSyncInterval"],
    help: ["coalesce changes: at most one sync per D (default 1s)"],
  },
  {
    name: "resync-interval",
    arg: "D",
    key: ["resyncInterval"],
    help: ["full resync with kernel read-back every D (default 5m; 0 disables)"],
  },
  {
    name: "status-address",
    arg: "ADDR",
    key: ["statusAddress"],
    help: [`unix:/path or 127.0.0.1:port for status (default ${defaultStatusAddress}; "" disables)`],
  },
  { name: "status-socket", arg: "ADDR", key: ["statusAddress"], help: ["the same as --status-address"] },
  {
    name: "healthz-bind-address",
    arg: "A",
    key: ["healthzBindAddress"],
    help: [
      `IP:port for /healthz, /livez, /readyz (default ${defaultHealthzBindAddress}; "" disables;`,
      "with --netns, inside that namespace)",
    ],
  },
  {
    name: "metrics-bind-address",
    arg: "A",
    key: ["metricsBindAddress"],
    help: [
      `IP:port for Prometheus /metrics (default ${defaultMetricsBindAddress}; "" disables;`,
      "with --netns, inside that namespace)",
    ],
  },
  { name: "log-format", arg: "F", key: ["logFormat"], help: ["text (default) or json"] },
  { name: "log-level", arg: "L", key: ["logLevel"], help: ["debug, info (default), warn or error"] },
  {
    name: "lb-default",
    arg: "ALG",
    key: ["lb", "default"],
    help: ["LB algorithm for services without an lb.wasmplane.io/algorithm annotation"],
  },
  {
    name: "lb-plugin-dir",
    arg: "DIR",
    key: ["lb", "pluginDir"],
    help: ["load the LB plugins (.wasm) in DIR through the Wasm host (SIGHUP reloads)"],
  },
  {
    name: "lb-lock",
    arg: "FILE",
    key: ["lb", "lockFile"],
    help: ["the lock file pinning those plugins (default build/plugins/plugins.lock.json)"],
  },
  { name: "config", arg: "FILE", help: ["YAML/JSON file with the same options (camelCase keys); flags win"] },
  { name: "help", help: ["this text"] },
];

function usageLine(flag: Flag): string {
  const name = `--${flag.name}${flag.arg ? ` ${flag.arg}` : ""}`.padEnd(24);
  return [`  ${name} ${flag.help[0]}`, ...flag.help.slice(1).map((line) => `${" ".repeat(27)}${line}`)].join(
    "\n",
  );
}

export const agentUsage = `usage: wasmplane agent [options]\n\n${flags.map(usageLine).join("\n")}`;

/** Every flag's config key, as docs/operator.md must list it. */
export const flagKeys: ReadonlyMap<string, Path | undefined> = new Map(flags.map((f) => [f.name, f.key]));

const parserOptions = Object.fromEntries(
  flags.map((f) => [
    f.name,
    {
      type: f.arg ? "string" : "boolean",
      ...(f.multiple ? { multiple: true } : {}),
      ...(f.name === "help" ? { short: "h" } : {}),
    },
  ]),
) as Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }>;

export interface ParsedFlags {
  help: boolean;
  config?: string;
  /** The flags' values in the config file's shape (`{ nodeIPs: [...], lb: { default: "maglev" } }`). */
  values: Record<string, unknown>;
  /** Names a path of `values` by its flag: ["nodeIPs", 0] → `--node-ip[0]`. */
  locate: Locate;
}

function setAt(target: Record<string, unknown>, path: Path, value: unknown): void {
  let node = target;
  for (const part of path.slice(0, -1)) {
    node[part] ??= {};
    node = node[part] as Record<string, unknown>;
  }
  node[path[path.length - 1]] = value;
}

/** A repeatable flag's value may itself be a list: `--cluster-cidr 10.244.0.0/16,fd00:244::/56`. */
function splitCommas(value: string | boolean): string[] {
  return String(value)
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Splits the arguments into flags; throws a ConfigError for an unknown flag or a missing value. */
export function parseFlags(args: string[]): ParsedFlags {
  let given: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    ({ values: given } = parseArgs({ args, options: parserOptions, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const values: Record<string, unknown> = {};
  const byKey = new Map<string, string>();
  // In table order, so --status-address wins over its alias --status-socket.
  for (const flag of [...flags].reverse()) {
    const value = given[flag.name];
    if (value === undefined || !flag.key) continue;
    setAt(values, flag.key, Array.isArray(value) ? value.flatMap(splitCommas) : value);
    byKey.set(formatPath(flag.key), flag.name);
  }
  const locate: Locate = (path) => {
    for (let n = path.length; n > 0; n--) {
      const name = byKey.get(formatPath(path.slice(0, n)));
      if (name) return formatPath(path.slice(n), `--${name}`);
    }
    return formatPath(path);
  };
  return {
    help: given.help === true,
    ...(typeof given.config === "string" ? { config: given.config } : {}),
    values,
    locate,
  };
}
