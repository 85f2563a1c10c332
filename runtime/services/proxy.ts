// The service planner: Services and EndpointSlices (plus LB plans) → the `svc-`/`services-` part of
// the wasmplane table. Stateful only as a cache: each service's output is kept with the inputs it
// was made from (object identity; the store never mutates objects), so after the first plan a change
// to one Service or EndpointSlice re-plans only that service, and unchanged chains keep their object
// identity (nft/ compares and renders each chain object once). Per sync the work is one pass of
// identity checks over the snapshot's maps plus the changed services. A changed object equal in
// content to the old one (apart from the Service's annotations) keeps the service's frame: an LB
// algorithm swap draws only the selection chains again, and a plan equal to the old one not even those.

import { cidr } from "../../nft/build.ts";
import type { DesiredChain, DesiredSet, TableFragment } from "../../nft/desired.ts";
import type { SetElement } from "../../nft/model.ts";
import type { LbRequest, LbResult } from "../lb/plan.ts";
import type { EndpointSlice, Service, Snapshot } from "../store/objects.ts";
import { baseChains, setDeclarations } from "./base-rules.ts";
import { type ResolvedConfig, resolveConfig, type ServiceProxyConfig } from "./config.ts";
import { endpointId } from "./endpoints.ts";
import { InputTracker } from "./inputs.ts";
import { type Family, sets } from "./names.ts";
import { sameServiceSpec, sameSlices } from "./same.ts";
import { equalRandom, planProblem, type ResolvedPlan, resolvePlan, StatementPool } from "./selection.ts";
import {
  drawService,
  frameService,
  lbRequestFor,
  type PlanProblem,
  type PreparedPort,
  type PreparedService,
  prepareService,
  type ServiceFrame,
  type ServiceOutput,
  withAnnotations,
} from "./service-plan.ts";
import { SharedElements } from "./shared-elements.ts";
import { collectStale, type StaleUdpEndpoint } from "./stale-udp.ts";

export type { ServiceProxyConfig } from "./config.ts";
export type { PlanProblem } from "./service-plan.ts";
export type { StaleUdpEndpoint } from "./stale-udp.ts";

export interface ServicePlan {
  fragment: TableFragment;
  problems: PlanProblem[];
  stats: { services: number; servicePorts: number; endpoints: number };
}

interface StoredPlan {
  plan: ResolvedPlan;
  /** The request the plan answers (`requestHead` and `endpointsSig`); it is current while they are the same. */
  requestHead: string;
  endpointsSig: string;
  /** Made by the LB planner (not a fallback), so there is no need to ask again. */
  fromLb: boolean;
  /** The last plan the LB planner made for this key, kept when a later answer fails. */
  lastGood?: ResolvedPlan;
}

interface Entry {
  service: Service;
  slices: EndpointSlice[];
  /**
   * Worked-out endpoints and LB settings of `service` and `slices`; null once the service is planned
   * with every plan from the LB planner (made again when needed: `prepared()`). At 100,000 Services
   * keeping them all cost about 0.7 KB each.
   */
  prepared: PreparedService | null;
  /** What does not depend on LB plans; null when the Service or its endpoints changed since it was made. */
  frame: ServiceFrame | null;
  output?: ServiceOutput;
  plans: Map<string, StoredPlan>;
}

/** The service under `key` when this proxy serves it (not labelled for another proxy, not headless). */
function proxiedService(snapshot: Snapshot, key: string): Service | undefined {
  const service = snapshot.services.get(key);
  return service?.notProxied ? undefined : service;
}

const isCurrent = (stored: StoredPlan | undefined, prepared: PreparedService, port: PreparedPort) =>
  stored !== undefined &&
  stored.endpointsSig === port.endpointsSig &&
  stored.requestHead === prepared.requestHead;

/** Same mode, hash settings and slots: drawing either gives the same rules. */
function samePlan(a: ResolvedPlan, b: ResolvedPlan): boolean {
  if (a === b) return true;
  const sa = a.selection;
  const sb = b.selection;
  if (sa.mode !== sb.mode || a.slots.length !== b.slots.length) return false;
  if (sa.mode === "hash" && sb.mode === "hash") {
    if (sa.seed !== sb.seed || sa.fields.length !== sb.fields.length) return false;
    for (let i = 0; i < sa.fields.length; i++) if (sa.fields[i] !== sb.fields[i]) return false;
  }
  for (let i = 0; i < a.slots.length; i++) if (a.slots[i] !== b.slots[i]) return false;
  return true;
}

/** A previous plan applied to the current endpoints: slots of endpoints that are gone are dropped. */
function remap(plan: ResolvedPlan, port: PreparedPort): ResolvedPlan {
  const present = new Set(port.reachable.map(endpointId));
  const slots = plan.slots.filter((id) => present.has(id));
  return slots.length > 0 ? { selection: plan.selection, slots } : equalRandom(port.reachable);
}

export class ServiceProxy {
  private readonly config: ResolvedConfig;
  private readonly cache = new Map<string, Entry>();
  private stale: StaleUdpEndpoint[] = [];
  /** Chains and affinity sets of every planned service plus the fixed chains, kept between plans. */
  private readonly chains = new Map<string, DesiredChain>();
  private readonly ownSets = new Map<string, DesiredSet>();
  private readonly shared = new SharedElements();
  private readonly inputs = new InputTracker();
  /** Statements shared by the rules this planner draws. */
  private readonly pool = new StatementPool();
  /** Services whose inputs changed since they were last planned. */
  private readonly toPlan = new Set<string>();
  /** Services with a port whose plan did not come from the LB planner: asked for again each sync. */
  private readonly unanswered = new Set<string>();
  private readonly serviceProblems = new Map<string, PlanProblem[]>();
  private readonly stats = { services: 0, servicePorts: 0, endpoints: 0 };

  constructor(config: ServiceProxyConfig) {
    this.config = resolveConfig(config);
    for (const chain of baseChains(this.config)) this.chains.set(chain.name, chain);
    for (const family of [4, 6] as Family[]) {
      const names = sets(family);
      for (const decl of setDeclarations(family, this.config.shape)) {
        // A pod may back several services, and a service has one cluster IP for all its ports.
        const exclusive = decl.name !== names.hairpin && decl.name !== names.clusterIPs;
        this.shared.declare(decl, exclusive);
      }
      const fc = this.config.families[family];
      const fromConfig =
        (set: string, field: string, key: (text: string) => SetElement["key"]) => (text: string) => ({
          set,
          id: text,
          value: "",
          field,
          element: { key: key(text) },
        });
      this.shared.replace(
        "",
        [],
        [
          ...fc.nodeIPs.map(fromConfig(names.nodePortIPs, "nodeIPs", (t) => t)),
          ...fc.clusterCIDRs.map(fromConfig(names.clusterCIDRs, "clusterCIDRs", (t) => cidr(t))),
        ],
      );
    }
  }

  /** The service ports whose LB plan is missing or out of date: what to ask the LbPlanner. */
  lbRequests(snapshot: Snapshot): LbRequest[] {
    this.absorb(snapshot);
    const requests: LbRequest[] = [];
    const ask = (key: string) => {
      const entry = this.cache.get(key);
      if (!entry || !proxiedService(snapshot, key)) return;
      const prepared = this.prepared(entry);
      for (const port of prepared.ports) {
        if (!port.endpointsSig) continue;
        const stored = entry.plans.get(port.key);
        if (stored?.fromLb === true && isCurrent(stored, prepared, port)) continue;
        requests.push(lbRequestFor(this.config, prepared, port));
      }
    };
    for (const key of this.toPlan) ask(key);
    for (const key of this.unanswered) if (!this.toPlan.has(key)) ask(key);
    return requests;
  }

  /** Forgets which plans came from the LB planner, so the next lbRequests asks for all of them (plugin swap). */
  invalidateLbPlans(): void {
    for (const [key, entry] of this.cache) {
      for (const stored of entry.plans.values()) stored.fromLb = false;
      if (entry.plans.size > 0) this.unanswered.add(key);
    }
  }

  plan(snapshot: Snapshot, lb: Map<string, LbResult>): ServicePlan {
    this.absorb(snapshot);
    const problems: PlanProblem[] = [];
    const stale: StaleUdpEndpoint[] = [];
    const keys = new Set(this.toPlan);
    for (const portKey of lb.keys()) keys.add(portKey.slice(0, portKey.indexOf(":")));
    this.toPlan.clear();
    for (const key of keys) {
      const entry = this.cache.get(key);
      if (!entry) continue;
      if (!proxiedService(snapshot, key)) {
        this.cache.delete(key);
        this.unanswered.delete(key);
        if (entry.output) collectStale(entry.output.frame, undefined, stale);
        this.install(key, entry.output, undefined);
        continue;
      }
      const prepared = this.prepared(entry);
      let redraw = entry.frame === null;
      let waiting = false;
      for (const port of prepared.ports) {
        if (!port.endpointsSig) continue;
        const result = lb.get(port.key);
        if (result || !isCurrent(entry.plans.get(port.key), prepared, port))
          if (this.choosePlan(entry, port, result, problems)) redraw = true;
        if (!entry.plans.get(port.key)?.fromLb) waiting = true;
      }
      if (waiting) this.unanswered.add(key);
      else this.unanswered.delete(key);
      if (redraw || !entry.output) {
        const before = entry.output;
        entry.frame ??= frameService(this.config, prepared, this.pool);
        entry.output = drawService(
          entry.frame,
          (portKey) => entry.plans.get(portKey)?.plan,
          this.pool,
          before,
        );
        if (before && before.frame !== entry.frame) collectStale(before.frame, entry.frame, stale);
        this.install(key, before, entry.output);
      }
      // Asked again next sync while waiting; otherwise made again only when something changes.
      if (!waiting) entry.prepared = null;
    }
    this.stale = stale;
    return this.assemble(problems);
  }

  /** UDP endpoints removed by the last plan; delete their conntrack entries after a successful apply. */
  staleUdpEndpoints(): StaleUdpEndpoint[] {
    return this.stale;
  }

  /** Takes the snapshot's changes: changed services are prepared again and wait for planning. */
  private absorb(snapshot: Snapshot): void {
    this.inputs.observe(snapshot);
    if (!this.inputs.hasChanges()) return;
    for (const key of this.inputs.takeChanged()) {
      this.toPlan.add(key);
      const service = proxiedService(snapshot, key);
      if (service) this.refresh(key, service, this.inputs.slicesOf(key));
    }
  }

  private refresh(key: string, service: Service, slices: EndpointSlice[]): void {
    const entry = this.cache.get(key);
    if (!entry) {
      const prepared = prepareService(this.config, service, slices);
      this.cache.set(key, { service, slices, prepared, frame: null, plans: new Map() });
      return;
    }
    if (entry.service === service && entry.slices === slices) return;
    if (sameSlices(entry.slices, slices) && sameServiceSpec(entry.service, service)) {
      // Only annotations changed (or nothing the planner reads): the endpoints, elements and chains
      // stay; the LB settings are read again, and a changed request asks for a new plan.
      if (entry.service !== service && entry.prepared)
        entry.prepared = withAnnotations(this.config, entry.prepared, service);
    } else {
      // The old output stays until the re-plan, to find UDP endpoints that went away.
      entry.prepared = prepareService(this.config, service, slices);
      entry.frame = null;
      const ports = entry.prepared.ports;
      for (const k of entry.plans.keys()) if (!ports.some((p) => p.key === k)) entry.plans.delete(k);
    }
    entry.service = service;
    entry.slices = slices;
  }

  /** The entry's prepared service, made again from its Service and slices if it was dropped. */
  private prepared(entry: Entry): PreparedService {
    entry.prepared ??= prepareService(this.config, entry.service, entry.slices);
    return entry.prepared;
  }

  /** Picks the plan of one port; returns true when its rules may differ from the stored plan's. */
  private choosePlan(
    entry: Entry,
    port: PreparedPort,
    result: LbResult | undefined,
    problems: PlanProblem[],
  ): boolean {
    const stored = entry.plans.get(port.key);
    if (result?.ok) {
      const bad = planProblem(result.plan, port.reachable.length);
      if (!bad) {
        const plan = resolvePlan(result.plan, port.reachable);
        return this.storePlan(entry, port, plan, true, plan);
      }
      const s = entry.service;
      problems.push({
        kind: "Service",
        namespace: s.namespace,
        name: s.name,
        field: "metadata.annotations[lb.wasmplane.io/algorithm]",
        message: `LB plan for ${port.key} is invalid (${bad}); keeping the last good plan`,
      });
    }
    if (result) {
      // Failed or invalid: the last good plan, on the endpoints that are still there.
      const lastGood = stored?.lastGood;
      const plan = lastGood ? remap(lastGood, port) : equalRandom(port.reachable);
      return this.storePlan(entry, port, plan, false, lastGood);
    }
    return this.storePlan(entry, port, equalRandom(port.reachable), false, stored?.lastGood);
  }

  /** Stores a port's plan; an equal plan keeps the stored object, so its chain is not drawn again. */
  private storePlan(
    entry: Entry,
    port: PreparedPort,
    plan: ResolvedPlan,
    fromLb: boolean,
    lastGood: ResolvedPlan | undefined,
  ): boolean {
    const stored = entry.plans.get(port.key);
    const same = stored !== undefined && samePlan(stored.plan, plan);
    const next: StoredPlan = {
      plan: same ? stored.plan : plan,
      requestHead: this.prepared(entry).requestHead,
      endpointsSig: port.endpointsSig,
      fromLb,
    };
    if (lastGood) next.lastGood = same && lastGood === plan ? stored.plan : lastGood;
    entry.plans.set(port.key, next);
    return !same;
  }

  private assemble(problems: PlanProblem[]): ServicePlan {
    for (const list of this.serviceProblems.values()) problems.push(...list);
    problems.push(...this.shared.problems(describeOwner));
    const sets = new Map(this.ownSets);
    for (const set of this.shared.build()) sets.set(set.name, set);
    return { fragment: { chains: new Map(this.chains), sets }, problems, stats: { ...this.stats } };
  }

  /** Swaps a service's chains, sets, elements, problems and counts in the persistent state. */
  private install(key: string, before: ServiceOutput | undefined, after: ServiceOutput | undefined): void {
    if (before && after && before.frame === after.frame) {
      // Only selection chains (or slot elements) were drawn again; the frame's part did not change.
      if (
        before.chains.length === after.chains.length &&
        before.elements.length === 0 &&
        after.elements.length === 0
      ) {
        for (let i = 0; i < after.chains.length; i++)
          if (after.chains[i] !== before.chains[i]) this.chains.set(after.chains[i].name, after.chains[i]);
        return;
      }
      const kept = new Set(after.chains.map((c) => c.name));
      for (const chain of before.chains) if (!kept.has(chain.name)) this.chains.delete(chain.name);
      for (const chain of after.chains) this.chains.set(chain.name, chain);
      this.shared.replace(key, before.elements, after.elements);
      return;
    }
    for (const chain of before?.chains ?? []) this.chains.delete(chain.name);
    for (const set of before?.frame.sets ?? []) this.ownSets.delete(set.name);
    for (const chain of after?.chains ?? []) this.chains.set(chain.name, chain);
    for (const set of after?.frame.sets ?? []) this.ownSets.set(set.name, set);
    this.shared.replace(key, allElements(before), allElements(after));
    if (after?.frame.problems.length) this.serviceProblems.set(key, after.frame.problems);
    else this.serviceProblems.delete(key);
    for (const [frame, sign] of [
      [before?.frame, -1],
      [after?.frame, 1],
    ] as const) {
      if (!frame || frame.servicePorts === 0) continue;
      this.stats.services += sign;
      this.stats.servicePorts += sign * frame.servicePorts;
      this.stats.endpoints += sign * frame.endpoints;
    }
  }
}

/** The frame's elements and the drawing's (slot elements, dispatch elements of drawn chains). */
function allElements(output: ServiceOutput | undefined) {
  if (!output) return [];
  return output.elements.length === 0
    ? output.frame.elements
    : [...output.frame.elements, ...output.elements];
}

function describeOwner(owner: string): { namespace: string; name: string } {
  const slash = owner.indexOf("/");
  return { namespace: owner.slice(0, slash), name: owner.slice(slash + 1) };
}
