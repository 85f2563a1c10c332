// Crash safety of the sync loop: the agent is killed with SIGKILL at random points during full and
// partial syncs. Every transaction is atomic, so after each kill the kernel holds exactly one
// generation of the services (never a mix, never a part), and a restart converges to the manifests.
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { readTable } from "../../nft/readback.ts";
import { seededRandom } from "../plugins/fixtures.ts";
import { kernelTest } from "../support/kernel.ts";
import { createNetns, deleteNetns, uniqueNetnsName } from "../support/netns.ts";
import { type Child, startWasmplane } from "./process-support.ts";

const test = suite("agent crash safety");
const SERVICES = 150;
const KILLS = 24;

/** Generation g: SERVICES services whose ClusterIPs are 10.96.g.1…, each with one endpoint. */
function generation(g: number): string {
  const docs: string[] = [];
  for (let i = 1; i <= SERVICES; i++) {
    docs.push(
      `apiVersion: v1\nkind: Service\nmetadata: {name: s${i}, namespace: default}\nspec: {clusterIP: 10.96.${g}.${i}, ports: [{port: 80}]}`,
      `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s${i}-1, namespace: default, labels: {kubernetes.io/service-name: s${i}}}\naddressType: IPv4\nports: [{port: 80}]\nendpoints: [{addresses: [10.73.${g}.${i}]}]`,
    );
  }
  return `${docs.join("\n---\n")}\n`;
}

/**
 * The generations the kernel's service maps hold (by ClusterIP third octet) and how many IPs: the
 * dispatch verdict map (chains shape) and the slot map (maps shape).
 */
async function heldGenerations(netns: string): Promise<{ generations: number[]; ips: number }> {
  const table = await readTable("inet", "wasmplane", { netns });
  const elements = ["services-ips4", "services-backends4"].map(
    (name) => table?.sets.get(name)?.elements ?? [],
  );
  const ips = new Set(JSON.stringify(elements).match(/10\.96\.\d+\.\d+/g) ?? []);
  const generations = [...new Set([...ips].map((ip) => Number(ip.split(".")[2])))].sort();
  return { generations, ips: ips.size };
}

kernelTest(
  test,
  `${KILLS} SIGKILLs during full and partial syncs never leave a partial rule set`,
  async () => {
    const node = uniqueNetnsName("crs");
    const dir = mkdtempSync(join(tmpdir(), "wpt-crs-"));
    const manifests = join(dir, "manifests");
    const random = seededRandom(20261207);
    let agent: Child | null = null;
    const write = (g: number) => {
      writeFileSync(join(dir, "next.yaml"), generation(g));
      renameSync(join(dir, "next.yaml"), join(manifests, "services.yaml"));
    };
    try {
      createNetns(node);
      mkdirSync(manifests);
      const config = join(dir, "agent.yaml");
      writeFileSync(
        config,
        `manifests: ${manifests}\nnetns: ${node}\nnodeName: n1\nnodeIPs: [10.250.0.1]\nclusterCIDRs: [10.73.0.0/16]\nserviceCIDRs: [10.96.0.0/16]\nminSyncInterval: 10ms\nstatusAddress: ""\nlockDir: ${dir}\n`,
      );
      let g = 1;
      write(g);
      let killedDuringSync = 0;
      for (let kill = 0; kill < KILLS; kill++) {
        agent = startWasmplane(["agent", "--config", config]);
        const partial = kill % 2 === 1;
        if (partial) {
          // During a partial sync: a new generation after the first sync. The source acts on a file
          // once it has been still for 500 ms, so the sync starts about then.
          await agent.waitFor(/sync full/, 120_000);
          write(++g);
          await new Promise((r) => setTimeout(r, 450 + Math.floor(random() * 400)));
        } else {
          // During the first (full) sync after start.
          await agent.waitFor(/agent started/, 120_000);
          await new Promise((r) => setTimeout(r, Math.floor(random() * 250)));
        }
        const finished = (partial ? /sync partial/ : /sync full/).test(agent.output());
        await agent.stop("SIGKILL");
        agent = null;
        if (!finished) killedDuringSync++;
        const held = await heldGenerations(node);
        assert.ok(held.generations.length <= 1, `kill ${kill}: a mix of generations ${held.generations}`);
        if (held.generations.length === 1)
          assert.is(held.ips, SERVICES, `kill ${kill}: generation ${held.generations[0]} is partial`);
      }
      // Some kills must have hit before the sync was logged, or the test proves nothing.
      assert.ok(killedDuringSync >= 4, `only ${killedDuringSync} kills landed before a sync finished`);
      agent = startWasmplane(["agent", "--config", config]);
      const running = agent;
      await running.waitFor(/sync (full|partial)/, 60_000);
      assert.equal(await heldGenerations(node), { generations: [g], ips: SERVICES }, running.output());
      assert.is(await running.stop("SIGTERM"), 0);
      agent = null;
    } finally {
      await agent?.stop("SIGKILL");
      deleteNetns(node);
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test.run();
