// The node health endpoint over a real Agent (fake source and dataplane, no kernel): /readyz after
// the first successful sync, /healthz staying 200 across one refused transaction, and turning 503
// when syncs stop keeping up (a dataplane whose apply hangs), all over HTTP on loopback.
import { request } from "node:http";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { chain } from "../../nft/build.ts";
import type { DesiredTable } from "../../nft/desired.ts";
import { planSync } from "../../nft/diff.ts";
import { Agent } from "../../runtime/agent/agent.ts";
import type { Dataplane, ServicePlanner } from "../../runtime/agent/dependencies.ts";
import { startHealth } from "../../runtime/health/health.ts";
import { builtinLbPlanner } from "../../runtime/lb/plan.ts";
import type { Source, SourceEvent, SourceSink } from "../../runtime/sources/source.ts";

const test = suite("agent health over HTTP");

class ManualSource implements Source {
  readonly description = "manual";
  sink: SourceSink | null = null;
  async start(sink: SourceSink) {
    this.sink = sink;
  }
  async stop() {}
}

const planner: ServicePlanner = {
  lbRequests: () => [],
  plan(snapshot) {
    const chains = new Map();
    for (const s of snapshot.services.values()) chains.set(`svc-${s.name}`, chain(`svc-${s.name}`, []));
    return {
      fragment: { chains, sets: new Map() },
      problems: [],
      stats: { services: 0, servicePorts: 0, endpoints: 0 },
    };
  },
  staleUdpEndpoints: () => [],
  invalidateLbPlans: () => {},
};

type Mode = "ok" | "fail-once" | "stall";

function fakeDataplane() {
  const state = { mode: "ok" as Mode, applies: 0, failures: 0, release: () => {} };
  let table: DesiredTable | null = null;
  let next: DesiredTable | null = null;
  const dataplane: Dataplane = {
    readBack: async () => table,
    diff: (applied, desired) => {
      const plan = planSync(applied, desired);
      next = plan.applied;
      return { tx: plan.tx, applied: plan.applied };
    },
    apply: async () => {
      if (state.mode === "fail-once") {
        state.mode = "ok";
        state.failures++;
        throw new Error("nft: Could not process rule: Device or resource busy");
      }
      if (state.mode === "stall") await new Promise<void>((resolve) => (state.release = resolve));
      table = next;
      state.applies++;
      return { bytes: 1, durationMs: 1 };
    },
    deleteUdpConntrack: async () => {},
  };
  return { state, dataplane };
}

const svc = (name: string): SourceEvent => ({
  type: "add",
  kind: "Service",
  key: `default/${name}`,
  object: {
    kind: "Service",
    metadata: { name, namespace: "default" },
    spec: { clusterIP: "10.96.0.10", ports: [{ port: 80 }] },
  },
});

function get(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, agent: false, timeout: 3000 }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${path}: no answer`)));
    req.on("error", reject);
    req.end();
  });
}

async function until(check: () => Promise<boolean>, what: string, ms = 6000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("ready after the first sync, healthy across one refused transaction, 503 when syncs stall", async () => {
  const { state, dataplane } = fakeDataplane();
  const source = new ManualSource();
  const resyncIntervalMs = 1000; // health timeout 2 s; the retry after a failure comes after 0.5 s
  const agent = new Agent({
    nodeName: "n1",
    minSyncIntervalMs: 0,
    resyncIntervalMs,
    source,
    planner,
    lbPlanner: builtinLbPlanner,
    dataplane,
    log: () => {},
    stopStepTimeoutMs: 500,
  });
  const health = startHealth(
    agent,
    { nodeName: "n1", nodeIPs: [], resyncIntervalMs, healthzBindAddress: "127.0.0.1:0" },
    () => {},
  );
  try {
    await health.server?.bound();
    const port = Number(health.server?.address().split(":").pop());
    await agent.start();
    assert.is(await get(port, "/readyz"), 503, "ready before any sync");
    assert.is(await get(port, "/healthz"), 200, "healthy while starting (kube-proxy)");
    const first = agent.nextSync();
    source.sink?.synced();
    await first;
    assert.is(await get(port, "/readyz"), 200);

    state.mode = "fail-once";
    source.sink?.events([svc("web")]);
    await until(async () => state.failures === 1, "the refused transaction");
    assert.is(await get(port, "/healthz"), 200, "one failure is not unhealthy");
    await until(async () => state.applies >= 2, "the retry after the refused transaction");
    assert.is(await get(port, "/healthz"), 200);

    state.mode = "stall";
    source.sink?.events([svc("api")]);
    await until(async () => (await get(port, "/healthz")) === 503, "/healthz 503 while the apply hangs");
    assert.is(await get(port, "/livez"), 503);
    assert.is(await get(port, "/readyz"), 200, "readiness stays: the rules of the last sync are in place");
    state.mode = "ok";
    state.release();
    await until(async () => (await get(port, "/healthz")) === 200, "/healthz 200 once syncs catch up");
  } finally {
    state.mode = "ok";
    state.release();
    await agent.stop();
    await health.close();
  }
});

test.run();
