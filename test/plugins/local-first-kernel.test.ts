// local-first in the kernel: new TCP connections through a ClusterIP reach the endpoint on this node,
// else the endpoints in this node's zone, else every endpoint. Drives the real pipeline: ServiceProxy
// (lbRequests, plan) → the Wasm LB planner → mergeFragments → planSync → applyTransaction.
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { applyTransaction } from "../../nft/apply.ts";
import { type DesiredTable, mergeFragments } from "../../nft/desired.ts";
import { planSync } from "../../nft/diff.ts";
import type { LbResult } from "../../runtime/lb/plan.ts";
import { createWasmLbPlanner, type WasmLbPlanner } from "../../runtime/plugins/lb-planner.ts";
import { ServiceProxy } from "../../runtime/services/proxy.ts";
import { snapshot as buildSnapshot, service, slice } from "../services/fixtures.ts";
import { kernelTest } from "../support/kernel.ts";
import { createNetns, deleteNetns, inNetns, uniqueNetnsName, vethLink } from "../support/netns.ts";
import { ensureBuilt, lbDir, lockAll } from "./fixtures.ts";

const test = suite("plugins: local-first in the kernel");
const CLUSTER_IP = "10.96.62.10";
/** pod → [address, node, zone] */
const PODS: Record<string, [string, string, string]> = {
  pod1: ["10.62.1.2", "node-a", "z1"],
  pod2: ["10.62.2.2", "node-b", "z1"],
  pod3: ["10.62.3.2", "node-c", "z2"],
};

// A pod server: answers the first line of a connection with its own name.
const SERVER = `
const name = process.argv[1];
require("net").createServer((s) => {
  s.on("error", () => {});
  s.once("data", () => s.end(name + "\\n"));
}).listen(8080, "0.0.0.0", () => process.stdout.write("ready\\n"));
setTimeout(() => process.exit(0), 120000).unref();
`;

// A client: on each stdin line N, opens N connections one after another; prints the answers as JSON.
const CLIENT = `
const net = require("net");
function once() {
  return new Promise((resolve) => {
    const s = net.connect({ host: process.argv[1], port: 80 });
    let got = "";
    const t = setTimeout(() => { s.destroy(); resolve("ERR timeout"); }, 3000);
    s.on("error", () => { clearTimeout(t); resolve("ERR connect"); });
    s.on("connect", () => s.write("hi\\n"));
    s.on("data", (d) => (got += d));
    s.on("end", () => { clearTimeout(t); resolve(got.trim()); });
  });
}
require("readline").createInterface({ input: process.stdin }).on("line", async (line) => {
  const out = [];
  for (let i = 0; i < Math.min(Number(line), 50); i++) out.push(await once());
  process.stdout.write(JSON.stringify(out) + "\\n");
});
setTimeout(() => process.exit(0), 120000).unref();
`;

function snapshot() {
  const web = service("demo", "web", {
    clusterIPs: [CLUSTER_IP],
    annotations: { "lb.wasmplane.io/algorithm": "local-first" },
  });
  const eps = Object.values(PODS).map(([ip, node, zone]) => ({ ip, node, zone }));
  return buildSnapshot([web], [slice(web, eps)]);
}

kernelTest(test, "new connections prefer this node, then this zone, then every endpoint", async () => {
  await ensureBuilt();
  const names = ["node", "client", "pod1", "pod2", "pod3"].map((n) => uniqueNetnsName(`lf-${n}`));
  const [node, client, ...pods] = names;
  const children: ChildProcess[] = [];
  let planner: WasmLbPlanner | undefined;
  let applied: DesiredTable | null = null;
  try {
    for (const n of names) createNetns(n);
    inNetns(node, ["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0"]);
    vethLink(node, client, "v-client", ["192.168.62.1", "192.168.62.2"]);
    for (const [i, [addr]] of Object.values(PODS).entries())
      vethLink(node, pods[i], `v-pod${i + 1}`, [addr.replace(/\.2$/, ".1"), addr]);
    await Promise.all(
      Object.keys(PODS).map(
        (name, i) =>
          new Promise<void>((resolve, reject) => {
            const child = spawn("ip", ["netns", "exec", pods[i], "node", "-e", SERVER, name], {
              stdio: ["ignore", "pipe", "inherit"],
            });
            children.push(child);
            child.stdout!.once("data", () => resolve());
            child.once("exit", (code) => reject(new Error(`server ${name} exited with ${code}`)));
          }),
      ),
    );
    const clientProc = spawn("ip", ["netns", "exec", client, "node", "-e", CLIENT, CLUSTER_IP], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    children.push(clientProc);
    const replies = createInterface({ input: clientProc.stdout! })[Symbol.asyncIterator]();
    const connect = async (count: number): Promise<string[]> => {
      clientProc.stdin!.write(`${count}\n`);
      const { value } = await replies.next();
      return JSON.parse(value as string);
    };
    planner = await createWasmLbPlanner({
      defaultAlgorithm: "random",
      plugins: { "local-first": join(lbDir, "local-first.wasm") },
      lockFile: lockAll(),
      log: () => {},
    });

    /** Plans and applies the service as the agent on `nodeName` in `nodeZone` would. */
    const syncAs = async (nodeName: string, nodeZone?: string) => {
      const proxy = new ServiceProxy({
        nodeName,
        ...(nodeZone ? { nodeZone } : {}),
        nodeIPs: ["192.168.62.1"],
        clusterCIDRs: ["10.62.0.0/16"],
        serviceCIDRs: ["10.96.0.0/12"],
        masqueradeAll: false,
      });
      const snap = snapshot();
      // The service planner does not fill in LbRequest.nodeName yet; pass it as it will.
      const requests = proxy.lbRequests(snap).map((r) => ({ ...r, nodeName: r.nodeName ?? nodeName }));
      const results = await planner!.plan(requests);
      assert.ok(
        results.every((r) => r.ok),
        JSON.stringify(results),
      );
      const plan = proxy.plan(snap, new Map<string, LbResult>(requests.map((r, i) => [r.key, results[i]])));
      assert.equal(plan.problems, []);
      const sp = planSync(applied, mergeFragments("inet", "wasmplane", [plan.fragment], ["services"]));
      await applyTransaction(sp.tx, { netns: node });
      applied = sp.applied;
    };

    await syncAs("node-a", "z1");
    const onNode = await connect(12);
    assert.equal(new Set(onNode), new Set(["pod1"]), `on node-a every connection reaches pod1: ${onNode}`);

    await syncAs("node-x", "z1");
    const inZone = await connect(24);
    assert.ok(
      inZone.every((p) => p === "pod1" || p === "pod2"),
      `in zone z1 only pod1 and pod2: ${inZone}`,
    );
    assert.is(new Set(inZone).size, 2, `both z1 pods are used (by chance not: 2^-23): ${inZone}`);

    await syncAs("node-x", "z9");
    const all = await connect(30);
    assert.is(new Set(all).size, 3, `no endpoint on this node or in its zone: every pod (${all})`);
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
    await planner?.close();
    for (const n of names) deleteNetns(n);
  }
});

test.run();
