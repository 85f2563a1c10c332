// The local sandbox (`npm start`): a node namespace programmed by the agent, pod namespaces with echo
// servers, and a client namespace to try the services from. The agent runs with pod networking
// mounted (`cni:`), and every pod is attached by the installed CNI executable, invoked as a container
// runtime does; each pod asks for its example address (CNI_ARGS IP=), so the example EndpointSlices
// stay the user's to edit. Everything is detached (CNI DEL) and removed on Ctrl-C/SIGTERM.
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultConfig } from "../agent/config.ts";
import { type RunningAgent, startAgent } from "../agent/run-agent.ts";
import { type StatusServer, startStatusServer } from "../agent/status-server.ts";
import { installCni } from "../cni/install.ts";
import { parseManifestText } from "../sources/parse-manifests.ts";
import {
  type CniAttachment,
  type CniNetwork,
  type CniResult,
  cniAdd,
  cniDel,
  loadConflist,
  resultAddresses,
} from "./cni-runtime.ts";
import { countByBackend, readConntrack } from "./conntrack-counts.ts";
import { type EchoServer, startEchoServer, stopEchoServer } from "./echo-server.ts";
import { nodeManifest, planSandbox, type SandboxPlan, type SandboxPod } from "./plan.ts";
import { buildNamespaces, destroyTopology, isLeftover, leftoverSandboxNetns } from "./topology.ts";

export interface SandboxOptions {
  examplesDir: string;
  /** Print connection counts every this many ms (0: never). */
  countsIntervalMs: number;
  out: (line: string) => void;
  /**
   * LB plugins for the agent: every .wasm in `pluginDir` through the Wasm host, pinned by `lockFile`
   * (default build/plugins/plugins.lock.json). Without it the built-in planner. After `plugin lock`,
   * `reloadPlugins()` swaps changed modules in, as the agent's SIGHUP does. `default`: the algorithm
   * of services without an `lb.wasmplane.io/algorithm` annotation (default "random").
   */
  lb?: { pluginDir: string; lockFile?: string; default?: string };
}

function hasCommand(name: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Why the sandbox cannot run here, or null. */
export function sandboxPrerequisiteProblem(): string | null {
  if (process.getuid?.() !== 0) {
    return "the sandbox creates network namespaces and nftables rules: run it as root (sudo npm start)";
  }
  const missing = ["ip", "nft", "nsenter"].filter((c) => !hasCommand(c));
  if (missing.length > 0) {
    const packages: Record<string, string> = { ip: "iproute2", nft: "nftables", nsenter: "util-linux" };
    const pkg = missing.map((c) => packages[c]).join(" ");
    return `missing ${missing.join(" and ")}: install with apt-get install -y ${pkg}`;
  }
  return null;
}

function readExamples(dir: string) {
  const objects = [];
  for (const file of readdirSync(dir).sort()) {
    if (!/\.(ya?ml|json)$/.test(file)) continue;
    const parsed = parseManifestText(readFileSync(join(dir, file), "utf8"), file);
    if (parsed.problems.length > 0) {
      throw new Error(
        `example manifests: ${parsed.problems.map((p) => `${p.origin}: ${p.message}`).join("; ")}`,
      );
    }
    objects.push(...parsed.objects.map((o) => o.object));
  }
  return objects;
}

/** How the runtime attaches one sandbox pod: its example addresses requested through CNI_ARGS IP=. */
function podAttachment(pod: SandboxPod): CniAttachment {
  return {
    containerId: pod.netns,
    netns: `/run/netns/${pod.netns}`,
    ifName: "eth0",
    args: {
      ...(pod.podNamespace ? { K8S_POD_NAMESPACE: pod.podNamespace, K8S_POD_NAME: pod.name } : {}),
      IP: [pod.address, ...(pod.address6 ? [pod.address6] : [])].join(","),
    },
  };
}

function hostInterface(result: CniResult): string {
  return result.interfaces?.find((i) => !i.sandbox)?.name ?? "?";
}

function describe(
  plan: SandboxPlan,
  manifests: string,
  statusAddress: string,
  attached: Map<string, CniResult>,
): string[] {
  const lines = [
    `sandbox ${plan.prefix}:`,
    `  node namespace   ${plan.nodeNetns}  (node IP ${plan.nodeIP}${plan.ipv6 ? ` ${plan.ipv6.nodeIP}` : ""}; the agent programs table inet wasmplane here)`,
    `  client namespace ${plan.clientNetns}  (${plan.clientIP}${plan.ipv6 ? ` ${plan.ipv6.clientIP}` : ""}, routes to the node)`,
  ];
  for (const pod of plan.pods) {
    const ports = [...pod.tcpPorts.map((p) => `tcp/${p}`), ...pod.udpPorts.map((p) => `udp/${p}`)].join(" ");
    const result = attached.get(pod.name);
    const addresses = result ? resultAddresses(result).join(" ") : "(not attached)";
    const via = result ? `CNI ADD: eth0, node side ${hostInterface(result)}` : "no CNI result";
    lines.push(`  pod ${pod.name.padEnd(12)} ${pod.netns}  ${addresses}  (${via})  echo server on ${ports}`);
  }
  lines.push("services:");
  for (const s of plan.services) {
    const ports = s.ports
      .map((p) => `${p.port}/${p.protocol}${p.nodePort ? ` node port ${p.nodePort}` : ""}`)
      .join(", ");
    lines.push(
      `  ${s.key.padEnd(22)} ${s.type.padEnd(10)} ${s.clusterIPs.join(", ") || "(headless)"}  ${ports}`,
    );
  }
  const exec = `ip netns exec ${plan.clientNetns}`;
  const tcp = plan.services.flatMap((s) =>
    s.ports.filter((p) => p.protocol === "TCP").map((p) => ({ s, p })),
  );
  const udp = plan.services.flatMap((s) =>
    s.ports.filter((p) => p.protocol === "UDP").map((p) => ({ s, p })),
  );
  lines.push("try it (in another terminal, as root):");
  if (tcp[0])
    lines.push(
      `  ${exec} socat - TCP:${tcp[0].s.clusterIPs[0]}:${tcp[0].p.port}      # answers with a backend's name`,
    );
  if (udp[0]) lines.push(`  echo hi | ${exec} socat - UDP:${udp[0].s.clusterIPs[0]}:${udp[0].p.port}`);
  const v6 = tcp.find(({ s }) => s.clusterIPs.some((ip) => ip.includes(":")));
  if (v6) {
    const ip6 = v6.s.clusterIPs.find((ip) => ip.includes(":"));
    lines.push(`  ${exec} socat - TCP6:[${ip6}]:${v6.p.port}      # the same service over IPv6`);
  }
  const nodePort = tcp.find(({ p }) => p.nodePort);
  if (nodePort)
    lines.push(`  ${exec} socat - TCP:${plan.nodeIP}:${nodePort.p.nodePort}       # NodePort on the node IP`);
  lines.push(`  ip netns exec ${plan.nodeNetns} nft list table inet wasmplane`);
  lines.push(`  npx tsx runtime/main.ts status --status-address ${statusAddress}   # pod attachments too`);
  lines.push(`  edit ${manifests}/*.yaml: the agent picks changes up live`);
  lines.push("Ctrl-C removes everything.");
  return lines;
}

export interface RunningSandbox {
  plan: SandboxPlan;
  /** The agent's status address (unix socket). */
  statusAddress: string;
  /** The status page: http://127.0.0.1:PORT/ (the agent's status on a loopback port, for a browser). */
  pageUrl: string;
  /** Re-reads the lock and the LB plugin modules (what SIGHUP does to the agent). */
  reloadPlugins(): Promise<void>;
  stop(): Promise<void>;
}

/** The sandbox pod's addresses must be the ones it asked for: the EndpointSlices name them. */
function checkAddresses(pod: SandboxPod, result: CniResult): void {
  const wanted = [pod.address, ...(pod.address6 ? [pod.address6] : [])];
  const got = resultAddresses(result);
  if (wanted.length !== got.length || wanted.some((w) => !got.includes(w)))
    throw new Error(
      `CNI ADD of pod ${pod.name}: asked for ${wanted.join(", ")}, IPAM gave ${got.join(", ")}`,
    );
}

export async function startSandbox(options: SandboxOptions): Promise<RunningSandbox> {
  const out = options.out;
  for (const ns of leftoverSandboxNetns()) {
    out(`removing namespace ${ns} left by a sandbox that was killed`);
    execFileSync("ip", ["netns", "delete", ns], { stdio: "ignore" });
  }
  for (const dir of readdirSync(tmpdir()).filter(isLeftover)) {
    out(`removing ${join(tmpdir(), dir)} left by a sandbox that was killed`);
    rmSync(join(tmpdir(), dir), { recursive: true, force: true });
  }
  const plan = planSandbox(process.pid, readExamples(options.examplesDir));
  if (plan.pods.length === 0)
    throw new Error(`no IPv4 endpoints in the EndpointSlices of ${options.examplesDir}`);
  // Manifests copy, CNI bin and conf dirs, the CNI socket and IPAM state: all under one directory.
  const work = mkdtempSync(join(tmpdir(), `${plan.prefix}-`));
  const manifests = join(work, "manifests");
  const cniSocket = join(work, "cni.sock");
  const statusAddress = `unix:/run/wasmplane/${plan.prefix}.sock`;
  const servers: EchoServer[] = [];
  const attached = new Map<string, CniResult>();
  let network: CniNetwork | null = null;
  let agent: RunningAgent | null = null;
  let page: StatusServer | null = null;
  let pageUrl = "";
  let countsTimer: NodeJS.Timeout | null = null;
  let stopped = false;

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (countsTimer) clearInterval(countsTimer);
    for (const s of servers) stopEchoServer(s);
    // DEL while the agent still serves the socket: it removes the veth and releases the addresses.
    let detached = 0;
    for (const pod of plan.pods) {
      const result = attached.get(pod.name);
      if (!network || !result) continue;
      await cniDel(network, podAttachment(pod), result).then(
        () => detached++,
        (err: Error) => out(`warning: ${err.message}`),
      );
    }
    await page?.close();
    await agent?.stop().catch(() => {});
    const failed = destroyTopology(plan);
    rmSync(work, { recursive: true, force: true });
    if (failed.length > 0) out(`could not remove: ${failed.join(", ")} (remove with ip netns delete)`);
    else
      out(
        `removed sandbox ${plan.prefix}: ${detached} pods detached through CNI DEL, ${2 + plan.pods.length} namespaces, ${work}, agent`,
      );
  };

  try {
    cpSync(options.examplesDir, manifests, { recursive: true });
    writeFileSync(join(manifests, "zz-sandbox-node.yaml"), nodeManifest(plan));
    buildNamespaces(plan);
    const config = {
      ...defaultConfig(),
      nodeName: plan.nodeName,
      nodeIPs: [plan.nodeIP, ...(plan.ipv6 ? [plan.ipv6.nodeIP] : [])],
      clusterCIDRs: [plan.clusterCIDR, ...(plan.ipv6 ? [plan.ipv6.clusterCIDR] : [])],
      serviceCIDRs: [plan.serviceCIDR, ...(plan.ipv6 ? [plan.ipv6.serviceCIDR] : [])],
      manifests,
      netns: plan.nodeNetns,
      minSyncIntervalMs: 200,
      statusAddress,
      // One node: no routes to peers. The manifests list no Pods, so no reconcile (the default there).
      cni: { socket: cniSocket, stateDir: join(work, "cni-state"), routing: "none" },
      ...(options.lb ? { lb: { ...defaultConfig().lb, ...options.lb } } : {}),
    };
    agent = await startAgent(config, (line) => out(`agent: ${line}`));
    const firstSync = Date.now();
    while (!agent.agent.status().lastSuccessfulSync) {
      if (Date.now() - firstSync > 30_000) {
        throw new Error(
          `the agent did not sync within 30s: ${agent.agent.status().lastSync?.error ?? "no sync yet"}`,
        );
      }
      await agent.agent.nextSync();
    }
    const installed = await installCni({
      binDir: join(work, "cni-bin"),
      confDir: join(work, "cni-conf"),
      agentSocket: cniSocket,
      portmap: false,
    });
    network = {
      binDir: join(work, "cni-bin"),
      conflist: loadConflist(installed.conflist),
      nodeNetns: plan.nodeNetns,
    };
    out(`cni: installed ${installed.executable} and ${installed.conflist}`);
    for (const pod of plan.pods) {
      const attachment = podAttachment(pod);
      const net = network;
      // As runtimes do after a failed ADD: a DEL cleans up whatever part of the attachment was made.
      const result = await cniAdd(net, attachment).catch(async (err: Error) => {
        await cniDel(net, attachment).catch(() => {});
        throw err;
      });
      attached.set(pod.name, result);
      checkAddresses(pod, result);
      servers.push(await startEchoServer(pod.netns, pod.name, pod.tcpPorts, pod.udpPorts));
    }
    for (const line of describe(plan, manifests, statusAddress, attached)) out(line);
    const running = agent;
    // A browser cannot open a unix socket: the page is served on a loopback port as well.
    page = await startStatusServer("127.0.0.1:0", () => running.agent.status());
    pageUrl = `http://${page.address}/`;
    out(`status page: ${pageUrl}`);
    out("sandbox ready");
  } catch (err) {
    await stop();
    throw err;
  }
  if (options.countsIntervalMs > 0) {
    const backends = plan.pods.flatMap((p) => [p.address, ...(p.address6 ? [p.address6] : [])]);
    let last = "";
    countsTimer = setInterval(async () => {
      const counts = countByBackend(await readConntrack(plan.nodeNetns), backends);
      const line = plan.pods
        .map((p) => {
          const both = [counts.get(p.address), p.address6 ? counts.get(p.address6) : undefined];
          const tcp = both.reduce((n, c) => n + (c?.tcp ?? 0), 0);
          const udp = both.reduce((n, c) => n + (c?.udp ?? 0), 0);
          return `${p.name} ${tcp} tcp/${udp} udp`;
        })
        .join(" | ");
      if (line !== last && !stopped) out(`connections per backend (conntrack): ${line}`);
      last = line;
    }, options.countsIntervalMs);
  }
  const reloadPlugins = async () => {
    if (agent) await agent.agent.reloadPlugins();
  };
  return { plan, statusAddress, pageUrl, reloadPlugins, stop };
}
