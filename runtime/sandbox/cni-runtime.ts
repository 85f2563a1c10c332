// The sandbox's container-runtime half: it runs the installed CNI plugins the way libcni does —
// each plugin of the conflist in order (DEL in reverse), found in CNI_PATH, with the CNI_* variables,
// the plugin's entry plus the list's name and cniVersion (and the previous result) on stdin — from
// inside the node's network namespace, as a runtime on that node would.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { inNamedNetns } from "../../nft/netns.ts";

export interface Conflist {
  cniVersion: string;
  name: string;
  plugins: Record<string, unknown>[];
}

export interface CniNetwork {
  /** CNI_PATH: where the plugin executables are. */
  binDir: string;
  conflist: Conflist;
  /** The node's named network namespace, where the plugins run. */
  nodeNetns: string;
}

export interface CniAttachment {
  containerId: string;
  /** Path of the pod's network namespace, e.g. /run/netns/NAME. */
  netns: string;
  ifName: string;
  /** CNI_ARGS pairs, e.g. { K8S_POD_NAME: "echo-a", IP: "10.244.1.2" }. */
  args?: Record<string, string>;
}

export interface CniResult {
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: { address: string; gateway?: string; interface?: number }[];
  routes?: { dst: string; gw?: string }[];
}

export function loadConflist(path: string): Conflist {
  const raw = JSON.parse(readFileSync(path, "utf8")) as Partial<Conflist>;
  if (typeof raw.cniVersion !== "string" || typeof raw.name !== "string" || !Array.isArray(raw.plugins))
    throw new Error(`${path}: not a CNI network configuration list (want cniVersion, name, plugins)`);
  for (const [i, p] of raw.plugins.entries())
    if (typeof p?.type !== "string") throw new Error(`${path}: plugins[${i}].type: missing`);
  return raw as Conflist;
}

function cniArgs(args: Record<string, string> | undefined): string {
  // IgnoreUnknown: plugins that do not know a key (e.g. IP) must not fail, as kubelet's args say.
  const pairs = Object.entries({ IgnoreUnknown: "1", ...args });
  return pairs.map(([k, v]) => `${k}=${v}`).join(";");
}

async function execPlugin(
  network: CniNetwork,
  plugin: Record<string, unknown>,
  command: "ADD" | "DEL",
  a: CniAttachment,
  prevResult: CniResult | undefined,
): Promise<CniResult | undefined> {
  const type = plugin.type as string;
  const executable = join(network.binDir, type);
  if (!existsSync(executable)) throw new Error(`CNI plugin ${type}: not found in ${network.binDir}`);
  const config = {
    ...plugin,
    name: network.conflist.name,
    cniVersion: network.conflist.cniVersion,
    ...(prevResult ? { prevResult } : {}),
  };
  const env = {
    PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
    CNI_COMMAND: command,
    CNI_CONTAINERID: a.containerId,
    CNI_NETNS: a.netns,
    CNI_IFNAME: a.ifName,
    CNI_ARGS: cniArgs(a.args),
    CNI_PATH: network.binDir,
  };
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>(
    (resolve, reject) => {
      const [cmd, args] = inNamedNetns(network.nodeNetns, executable, []);
      const child = spawn(cmd, args, {
        env,
        stdio: ["pipe", "pipe", "pipe"],
        timeout: 90_000,
      });
      let out = "";
      let err = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => {
        out += d;
      });
      child.stderr.setEncoding("utf8").on("data", (d: string) => {
        err += d;
      });
      child.on("error", reject);
      child.on("close", (c) => resolve({ code: c ?? 1, stdout: out, stderr: err }));
      child.stdin.on("error", () => {});
      child.stdin.end(JSON.stringify(config));
    },
  );
  const what = `CNI ${command} of ${a.containerId} by plugin ${type}`;
  let parsed: Record<string, unknown> | undefined;
  try {
    parsed = stdout.trim() ? (JSON.parse(stdout) as Record<string, unknown>) : undefined;
  } catch {
    throw new Error(`${what}: output is not JSON: ${stdout.trim().slice(0, 200)}`);
  }
  if (code !== 0) {
    const msg = parsed?.msg ?? (stderr.trim() || `exit status ${code}`);
    const details = parsed?.details ? ` (${parsed.details})` : "";
    throw new Error(`${what}: ${msg}${details}${parsed?.code ? ` [CNI error ${parsed.code}]` : ""}`);
  }
  return command === "ADD" ? (parsed as CniResult | undefined) : undefined;
}

/** ADD through every plugin of the list; the last plugin's result is the attachment's. */
export async function cniAdd(network: CniNetwork, a: CniAttachment): Promise<CniResult> {
  let result: CniResult | undefined;
  for (const plugin of network.conflist.plugins) result = await execPlugin(network, plugin, "ADD", a, result);
  if (!result) throw new Error(`CNI ADD of ${a.containerId}: no result`);
  return result;
}

/** DEL through every plugin of the list in reverse order, with the ADD result as prevResult. */
export async function cniDel(network: CniNetwork, a: CniAttachment, added?: CniResult): Promise<void> {
  for (const plugin of [...network.conflist.plugins].reverse())
    await execPlugin(network, plugin, "DEL", a, added);
}

/** The pod's addresses in a result (without prefix length), in result order. */
export function resultAddresses(result: CniResult): string[] {
  return (result.ips ?? []).map((ip) => ip.address.split("/")[0]);
}
