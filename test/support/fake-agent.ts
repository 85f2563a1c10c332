// An agent over a hand-driven source and a fake kernel (no nft process), for the agent-logic, metrics
// and log tests: the real store, the real nft diff, a planner with one chain per service.
import { accept, chain, counter, match, payload, rule } from "../../nft/build.ts";
import type { DesiredTable } from "../../nft/desired.ts";
import { planSync } from "../../nft/diff.ts";
import { Agent, type AgentOptions } from "../../runtime/agent/agent.ts";
import type { Dataplane, ServicePlanner } from "../../runtime/agent/dependencies.ts";
import { builtinLbPlanner } from "../../runtime/lb/plan.ts";
import type { RawObject, Source, SourceEvent, SourceSink } from "../../runtime/sources/source.ts";

export class ManualSource implements Source {
  readonly description = "manual";
  sink: SourceSink | null = null;
  async start(sink: SourceSink) {
    this.sink = sink;
  }
  async stop() {}
  send(events: SourceEvent[]) {
    this.sink?.events(events);
  }
}

/** One chain per service, one rule per port: enough to see what was programmed. */
export const chainPerServicePlanner: ServicePlanner = {
  lbRequests: () => [],
  plan(snapshot) {
    const chains = new Map();
    for (const s of snapshot.services.values()) {
      const name = `svc-${s.namespace}-${s.name}`;
      chains.set(
        name,
        chain(
          name,
          s.ports.map((p) => rule(match(payload("tcp", "dport"), p.port), counter(), accept())),
        ),
      );
    }
    return {
      fragment: { chains, sets: new Map() },
      problems: [],
      stats: { services: 0, servicePorts: 0, endpoints: 0 },
    };
  },
  staleUdpEndpoints: () => [],
  invalidateLbPlans: () => {},
};

/** A kernel that keeps what was applied and counts applies and reads; `fail` makes every apply throw. */
export function fakeKernel() {
  const kernel = { table: null as DesiredTable | null, fail: false, applies: [] as number[], reads: 0 };
  let next: DesiredTable | null = null;
  const dataplane: Dataplane = {
    readBack: async () => {
      kernel.reads++;
      return kernel.table;
    },
    diff: (applied, desired) => {
      const plan = planSync(applied, desired);
      next = plan.applied;
      return { tx: plan.tx, applied: plan.applied, deferredChains: plan.deferredChains.length };
    },
    apply: async (tx) => {
      if (kernel.fail) throw new Error("nft: Could not process rule: Device or resource busy");
      kernel.table = next;
      kernel.applies.push(tx.size);
      return { bytes: 100 * tx.size, durationMs: 1, path: "netlink" };
    },
    deleteUdpConntrack: async () => {},
  };
  return { kernel, dataplane };
}

export function service(name: string, port: number, spec: Record<string, unknown> = {}): SourceEvent {
  const object: RawObject = {
    kind: "Service",
    metadata: { name, namespace: "default" },
    spec: { clusterIP: "10.96.0.10", ports: [{ port }], ...spec },
  };
  return { type: "add", kind: "Service", key: `default/${name}`, object };
}

export function fakeAgent(source: Source, dataplane: Dataplane, extra: Partial<AgentOptions> = {}): Agent {
  return new Agent({
    nodeName: "n1",
    minSyncIntervalMs: 0,
    resyncIntervalMs: 0,
    source,
    planner: chainPerServicePlanner,
    lbPlanner: builtinLbPlanner,
    dataplane,
    log: () => {},
    ...extra,
  });
}

/** Starts `agent`, delivers `events` as the source's initial listing, and waits for the first sync. */
export async function startWithListing(
  agent: Agent,
  source: ManualSource,
  events: SourceEvent[],
): Promise<void> {
  await agent.start();
  source.send(events);
  const first = agent.nextSync();
  source.sink?.synced();
  await first;
}
