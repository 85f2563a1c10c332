// Hot swap of an LB plugin module: the module behind an algorithm is replaced on disk, re-locked and
// the agent gets SIGHUP. The service's rules must follow the new module (round-robin → source hash)
// in the next sync, while a connection opened before the swap keeps talking to its backend.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { fetchStatus } from "../../runtime/agent/status-server.ts";
import { type EchoServer, startEchoServer } from "../../runtime/sandbox/echo-server.ts";
import { buildTopology } from "../../runtime/sandbox/topology.ts";
import { kernelTest } from "../support/kernel.ts";
import {
  agentArgs,
  agentTestPlan,
  type Child,
  firstSync,
  root,
  runWasmplane,
  startWasmplane,
  stopSandbox,
  tcpAnswer,
  waitUntil,
} from "./process-support.ts";

const test = suite("agent LB plugin hot swap");

const serviceIP = "10.96.0.30";

const manifests = `apiVersion: v1
kind: Service
metadata: {name: swapped, namespace: default, annotations: {lb.wasmplane.io/algorithm: swap}}
spec: {clusterIP: ${serviceIP}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: swapped-1, namespace: default, labels: {kubernetes.io/service-name: swapped}}
addressType: IPv4
ports: [{port: 8080}]
endpoints: [{addresses: [10.244.1.2]}, {addresses: [10.244.1.3]}]
`;

/** A TCP connection held open from the client namespace; `say` sends a line and resolves with the echo. */
interface HeldConnection {
  greeting: Promise<string>;
  say(line: string): Promise<string>;
  close(): void;
}

function holdConnection(netns: string, address: string, port: number): HeldConnection {
  const child: ChildProcess = spawn("ip", ["netns", "exec", netns, "socat", "-", `TCP:${address}:${port}`], {
    stdio: ["pipe", "pipe", "ignore"],
  });
  let buffered = "";
  let waiting: ((line: string) => void) | null = null;
  const lines: string[] = [];
  child.stdout?.on("data", (b: Buffer) => {
    buffered += b.toString();
    for (let i = buffered.indexOf("\n"); i >= 0; i = buffered.indexOf("\n")) {
      lines.push(buffered.slice(0, i));
      buffered = buffered.slice(i + 1);
    }
    if (waiting && lines.length > 0) {
      const w = waiting;
      waiting = null;
      w(lines.shift()!);
    }
  });
  const nextLine = () =>
    new Promise<string>((resolve, reject) => {
      if (lines.length > 0) return resolve(lines.shift()!);
      const timer = setTimeout(() => reject(new Error("held connection: no answer within 5s")), 5000);
      waiting = (line) => {
        clearTimeout(timer);
        resolve(line);
      };
    });
  return {
    greeting: nextLine(),
    async say(line) {
      child.stdin?.write(`${line}\n`);
      return nextLine();
    },
    close: () => {
      if (child.exitCode === null) child.kill("SIGTERM");
    },
  };
}

/** The table's listing without the maps shape's slot map declarations (`typeof … numgen inc mod 1`). */
function serviceRules(nodeNetns: string): string {
  return execFileSync("ip", ["netns", "exec", nodeNetns, "nft", "list", "table", "inet", "wasmplane"], {
    encoding: "utf8",
  })
    .split("\n")
    .filter((line) => !line.includes("typeof"))
    .join("\n");
}

kernelTest(
  test,
  "re-lock + SIGHUP swaps the module; rules follow it, a held connection lives on",
  async () => {
    const builtDir = join(root, "build/plugins/lb");
    if (!existsSync(join(builtDir, "source-hash.wasm"))) runWasmplane(["plugin", "build"]);
    const plan = agentTestPlan("int");
    const dir = mkdtempSync(join(tmpdir(), "wpt-int-"));
    const socket = `unix:${join(dir, "status.sock")}`;
    const manifestDir = join(dir, "manifests");
    const pluginDir = join(dir, "lb");
    const lock = join(dir, "plugins.lock.json");
    const servers: EchoServer[] = [];
    let agent: Child | null = null;
    let held: HeldConnection | null = null;
    try {
      mkdirSync(pluginDir);
      copyFileSync(join(builtDir, "random.wasm"), join(pluginDir, "random.wasm"));
      copyFileSync(join(builtDir, "round-robin.wasm"), join(pluginDir, "swap.wasm"));
      runWasmplane(["plugin", "lock", "--lock", lock, pluginDir]);
      buildTopology(plan);
      for (const p of plan.pods) servers.push(await startEchoServer(p.netns, p.name, [8080], []));
      mkdirSync(manifestDir);
      writeFileSync(join(manifestDir, "swapped.yaml"), manifests);
      agent = startWasmplane(
        agentArgs(plan, socket, ["--manifests", manifestDir], {
          extra: ["--lb-plugin-dir", pluginDir, "--lb-lock", lock],
        }),
      );
      const running = agent;
      const first = await firstSync(socket, running);
      assert.equal(first.problems, [], running.output());
      const before = first.lbPlugins?.find((p) => p.algorithm === "swap")?.sha256;
      assert.ok(before, `swap plugin not loaded: ${JSON.stringify(first.lbPlugins)}`);
      assert.match(serviceRules(plan.nodeNetns), /numgen inc mod 2/);
      assert.not.match(serviceRules(plan.nodeNetns), /jhash/);
      const rr = Array.from({ length: 6 }, () => tcpAnswer(plan.clientNetns, serviceIP, 80));
      for (let i = 1; i < rr.length; i++) assert.is.not(rr[i], rr[i - 1], `not alternating: ${rr.join(",")}`);

      held = holdConnection(plan.clientNetns, serviceIP, 80);
      const heldPod = await held.greeting;
      assert.ok(heldPod === "pod1" || heldPod === "pod2", `held connection greeting: ${heldPod}`);

      copyFileSync(join(builtDir, "source-hash.wasm"), join(pluginDir, "swap.wasm"));
      runWasmplane(["plugin", "lock", "--lock", lock, pluginDir]);
      const syncsBefore = (await fetchStatus(socket)).syncs.total;
      agent.process.kill("SIGHUP");
      await agent.waitFor(/plugins reloaded: .*replaced swap/, 10_000);
      const after = await waitUntil("a sync after the swap", async () => {
        const s = await fetchStatus(socket);
        return s.syncs.total > syncsBefore && s.lastSync?.ok ? s : null;
      });
      assert.equal(after.problems, [], running.output());
      const swapped = after.lbPlugins?.find((p) => p.algorithm === "swap")?.sha256;
      assert.ok(swapped && swapped !== before, `module not swapped: ${before} → ${swapped}`);
      const rules = serviceRules(plan.nodeNetns);
      assert.match(rules, /jhash ip saddr mod 2/);
      assert.not.match(rules, /numgen inc/);
      // One client address: the hash sends every new connection to the same backend.
      const hashed = Array.from({ length: 6 }, () => tcpAnswer(plan.clientNetns, serviceIP, 80));
      assert.ok(hashed[0] === "pod1" || hashed[0] === "pod2", hashed.join(","));
      assert.ok(
        hashed.every((a) => a === hashed[0]),
        `source hash not sticky: ${hashed.join(",")}`,
      );
      // The connection opened before the swap still reaches the backend it started with.
      assert.is(await held.say("still-here"), "still-here");

      // A SIGHUP with nothing changed re-plans nothing.
      const quiet = (await fetchStatus(socket)).syncs.total;
      agent.process.kill("SIGHUP");
      await agent.waitFor(/plugins reloaded: unchanged (random, swap|swap, random)/, 10_000);
      await new Promise((r) => setTimeout(r, 400));
      const later = await fetchStatus(socket);
      assert.is(later.syncs.total, quiet, running.output());
      assert.is(await agent.stop("SIGTERM"), 0);
      agent = null;
    } finally {
      held?.close();
      await stopSandbox(agent, servers, plan);
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test.run();
