// A small container-runtime stand-in for the CNI tests: it runs plugin executables the way libcni
// does (CNI_* environment, config on stdin, conflist order with prevResult and capability args),
// inside the node's namespace, and builds nodes out of network namespaces.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createNetns, deleteNetns, inNetns, uniqueNetnsName, vethPair } from "../support/netns.ts";

export interface InvokeResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed, when it is JSON. */
  json: Record<string, unknown> | undefined;
  ms: number;
}

/** The `ips` of a result (empty when there is none). */
export function resultIPs(res: InvokeResult): { address: string; version?: string }[] {
  return (res.json?.ips ?? []) as { address: string; version?: string }[];
}

export interface InvokeOptions {
  bin: string;
  command: string;
  containerId?: string;
  netns?: string;
  ifName?: string;
  args?: string;
  cniPath?: string;
  /** Raw stdin, or an object sent as JSON. */
  config: string | Record<string, unknown>;
  /** Run inside this named namespace (the node), as a runtime on that node would. */
  nodeNetns?: string;
  /** Extra or overriding environment (undefined removes a variable). */
  env?: Record<string, string | undefined>;
}

export function invoke(o: InvokeOptions): Promise<InvokeResult> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" };
  const set = (k: string, v: string | undefined) => {
    if (v !== undefined) env[k] = v;
  };
  set("CNI_COMMAND", o.command);
  set("CNI_CONTAINERID", o.containerId);
  set("CNI_NETNS", o.netns);
  set("CNI_IFNAME", o.ifName);
  set("CNI_ARGS", o.args);
  set("CNI_PATH", o.cniPath);
  for (const [k, v] of Object.entries(o.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const [cmd, argv] = o.nodeNetns ? ["nsenter", [`--net=/run/netns/${o.nodeNetns}`, o.bin]] : [o.bin, []];
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv as string[], { env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      let json: Record<string, unknown> | undefined;
      try {
        json = stdout.trim() ? (JSON.parse(stdout) as Record<string, unknown>) : undefined;
      } catch {
        json = undefined;
      }
      resolve({ code: code ?? 1, stdout, stderr, json, ms: performance.now() - started });
    });
    child.stdin.on("error", () => {});
    child.stdin.end(typeof o.config === "string" ? o.config : JSON.stringify(o.config));
  });
}

export interface Conflist {
  cniVersion: string;
  name: string;
  plugins: Record<string, unknown>[];
}

export interface Attachment {
  containerId: string;
  netns: string;
  ifName: string;
  args?: string;
  /** Capability arguments, e.g. { portMappings: [...] }. */
  runtimeConfig?: Record<string, unknown>;
}

/** A runtime's view of one network: a conflist, its bin dir and the node it runs on. */
export class ConflistRunner {
  /** The result of the last successful ADD per container, as libcni caches it for CHECK and DEL. */
  readonly cache = new Map<string, Record<string, unknown>>();

  constructor(
    readonly conflist: Conflist,
    readonly binDir: string,
    readonly nodeNetns: string,
  ) {}

  private pluginConfig(plugin: Record<string, unknown>, a: Attachment, prevResult?: Record<string, unknown>) {
    const config: Record<string, unknown> = {
      ...plugin,
      name: this.conflist.name,
      cniVersion: this.conflist.cniVersion,
    };
    const caps = (plugin.capabilities ?? {}) as Record<string, boolean>;
    const runtimeConfig: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(a.runtimeConfig ?? {})) if (caps[k]) runtimeConfig[k] = v;
    if (Object.keys(runtimeConfig).length > 0) config.runtimeConfig = runtimeConfig;
    if (prevResult) config.prevResult = prevResult;
    return config;
  }

  private run(
    plugin: Record<string, unknown>,
    command: string,
    a: Attachment,
    prev?: Record<string, unknown>,
  ) {
    return invoke({
      bin: join(this.binDir, String(plugin.type)),
      command,
      containerId: a.containerId,
      netns: a.netns,
      ifName: a.ifName,
      args: a.args,
      cniPath: this.binDir,
      config: this.pluginConfig(plugin, a, prev),
      nodeNetns: this.nodeNetns,
    });
  }

  async add(a: Attachment): Promise<InvokeResult> {
    let prev: Record<string, unknown> | undefined;
    let last: InvokeResult | undefined;
    for (const plugin of this.conflist.plugins) {
      last = await this.run(plugin, "ADD", a, prev);
      if (last.code !== 0) return last;
      prev = last.json;
    }
    if (prev) this.cache.set(a.containerId, prev);
    return last!;
  }

  async check(a: Attachment): Promise<InvokeResult> {
    let last: InvokeResult | undefined;
    for (const plugin of this.conflist.plugins) {
      last = await this.run(plugin, "CHECK", a, this.cache.get(a.containerId));
      if (last.code !== 0) return last;
    }
    return last!;
  }

  async del(a: Attachment): Promise<InvokeResult> {
    let last: InvokeResult | undefined;
    for (const plugin of [...this.conflist.plugins].reverse()) {
      last = await this.run(plugin, "DEL", a, this.cache.get(a.containerId));
      if (last.code !== 0) return last;
    }
    this.cache.delete(a.containerId);
    return last!;
  }
}

/** A temporary directory, removed by the returned function. */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `wpt-cni-${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Links Debian's reference plugins into a bin dir next to ours. */
export function linkReferencePlugins(binDir: string, names: string[]): void {
  for (const name of names) symlinkSync(`/usr/lib/cni/${name}`, join(binDir, name));
}

/**
 * A node: its namespace, and a client namespace on an underlay link (node 10.250.0.1, client
 * 10.250.0.2, fd99::1/fd99::2) to reach host ports from outside. Pods are created on demand.
 */
export class TestNode {
  readonly node = uniqueNetnsName("cni-node");
  readonly client = uniqueNetnsName("cni-client");
  private readonly pods: string[] = [];
  readonly nodeIP = "10.250.0.1";
  readonly clientIP = "10.250.0.2";

  constructor() {
    createNetns(this.node);
    createNetns(this.client);
    vethPair(this.node, "uplink", "uplink", this.client);
    for (const [ns, v4, v6] of [
      [this.node, "10.250.0.1/24", "fd99::1/64"],
      [this.client, "10.250.0.2/24", "fd99::2/64"],
    ]) {
      inNetns(ns, ["ip", "addr", "add", v4, "dev", "uplink"]);
      inNetns(ns, ["ip", "addr", "add", v6, "dev", "uplink", "nodad"]);
      inNetns(ns, ["ip", "link", "set", "uplink", "up"]);
    }
    inNetns(this.client, ["ip", "route", "add", "default", "via", "10.250.0.1"]);
    inNetns(this.client, ["ip", "-6", "route", "add", "default", "via", "fd99::1"]);
  }

  /** A fresh pod namespace; returns [name, path]. */
  pod(): [string, string] {
    const name = uniqueNetnsName("cni-pod");
    createNetns(name);
    this.pods.push(name);
    return [name, `/run/netns/${name}`];
  }

  removePod(name: string): void {
    deleteNetns(name);
  }

  destroy(): void {
    for (const p of this.pods) deleteNetns(p);
    deleteNetns(this.client);
    deleteNetns(this.node);
  }
}

/**
 * Sends one TCP request from namespace `from` to `host:port`, where a socat in namespace `to`
 * answers `reply`. Retries the connect for up to two seconds (the listener starting, DAD).
 */
export async function tcpProbe(
  from: string,
  to: string,
  host: string,
  port: number,
  reply: string,
  listenPort = port,
): Promise<string> {
  const family = host.includes(":") ? "TCP6" : "TCP4";
  const listener = spawn(
    "ip",
    [
      "netns",
      "exec",
      to,
      "timeout",
      "5",
      "socat",
      `${family}-LISTEN:${listenPort},reuseaddr,fork`,
      `SYSTEM:echo ${reply}`,
    ],
    { stdio: "ignore" },
  );
  try {
    const target = host.includes(":") ? `[${host}]` : host;
    const deadline = Date.now() + 3000;
    let last = "";
    while (Date.now() < deadline) {
      const out = await new Promise<string>((resolve) => {
        const c = spawn(
          "ip",
          ["netns", "exec", from, "timeout", "1", "socat", "-T1", "-", `${family}:${target}:${port}`],
          {
            stdio: ["ignore", "pipe", "pipe"],
          },
        );
        let s = "";
        c.stdout.setEncoding("utf8").on("data", (d: string) => {
          s += d;
        });
        c.on("close", () => resolve(s.trim()));
      });
      if (out) return out;
      last = out;
      await new Promise((r) => setTimeout(r, 100));
    }
    return last;
  } finally {
    listener.kill();
  }
}

/** Addresses of an interface inside a namespace. */
export function interfaceAddresses(netns: string, ifName: string): string[] {
  const out = JSON.parse(inNetns(netns, ["ip", "-j", "addr", "show", "dev", ifName])) as {
    addr_info: { local: string; scope: string }[];
  }[];
  return out.flatMap((l) => l.addr_info.filter((a) => a.scope === "global").map((a) => a.local));
}

export function interfaceExists(netns: string, ifName: string): boolean {
  return spawnSync("ip", ["-n", netns, "link", "show", "dev", ifName], { stdio: "ignore" }).status === 0;
}
