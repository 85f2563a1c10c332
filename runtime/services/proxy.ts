// The service planner: Services and EndpointSlices (plus LB plans) → the `svc-`/`services-` part of
// the wasmplane table. Stateful only as a cache: each service's output is kept with the inputs it
// was made from (object identity; the store never mutates objects), so after the first plan a change
// to one Service or EndpointSlice re-plans only that service, and unchanged chains keep their object
// identity (nft/ compares and renders each chain object once). Per sync the work is one pass of
// identity checks over the snapshot's maps plus the changed services.

import { cidr } from "../../nft/build.ts";
import type { DesiredChain, DesiredSet, TableFragment } from "../../nft/desired.ts";
import type { SetElement } from "../../nft/model.ts";
import type { LbRequest, LbResult } from "../lb/plan.ts";
import { compactArrays } from "../store/compact.ts";
import type { EndpointSlice, Service, Snapshot } from "../store/objects.ts";
import { baseChains, setDeclarations } from "./base-rules.ts";
import { type ResolvedConfig, resolveConfig, type ServiceProxyConfig } from "./config.ts";
import { endpointId } from "./endpoints.ts";
import { InputTracker } from "./inputs.ts";
import { type Family, sets } from "./names.ts";
import { equalRandom, planProblem, type ResolvedPlan, resolvePlan } from "./selection.ts";
import {
  lbRequestFor,
  type PlanProblem,
  type PreparedPort,
  type PreparedService,
  planService,
  prepareService,
  type ServiceOutput,
} from "./service-plan.ts";
import { SharedElements } from "./shared-elements.ts";

export type { ServiceProxyConfig } from "./config.ts";
export type { PlanProblem } from "./service-plan.ts";

export interface ServicePlan {
  fragment: TableFragment;
  problems: PlanProblem[];
  stats: { services: number; servicePorts: number; endpoints: number };
}

/** A UDP endpoint that lost its service: delete conntrack entries of `serviceIP` → `address:port`. */
export interface StaleUdpEndpoint {
  address: string;
  port: number;
  serviceIP?: string;
}

interface StoredPlan {
  plan: ResolvedPlan;
  /** The request the plan answers; the plan is current while the port's request is the same. */
  requestSig: string;
  /** Made by the LB planner (not a fallback), so there is no need to ask again. */
  fromLb: boolean;
  /** The last plan the LB planner made for this key, kept when a later answer fails. */
  lastGood?: ResolvedPlan;
}

interface Entry {
  service: Service;
  slices: EndpointSlice[];
  /** Worked-out endpoints; dropped after planning (to save memory) and rebuilt when needed. */
  prepared: PreparedService | null;
  /** Each port's LB key and request signature ("" without endpoints). */
  ports: { key: string; requestSig: string }[];
  output?: ServiceOutput;
  /** The inputs changed since `output` was made. */
  outdated: boolean;
  plans: Map<string, StoredPlan>;
}

function sameSlices(a: EndpointSlice[], b: EndpointSlice[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function storePlan(
  entry: Entry,
  port: PreparedPort,
  plan: ResolvedPlan,
  fromLb: boolean,
  lastGood: ResolvedPlan | undefined,
): true {
  const next: StoredPlan = { plan, requestSig: port.requestSig, fromLb };
  if (lastGood) next.lastGood = lastGood;
  entry.plans.set(port.key, next);
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
      for (const decl of setDeclarations(family)) {
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
    for (const key of new Set([...this.toPlan, ...this.unanswered])) {
      const entry = this.cache.get(key);
      if (!entry || !snapshot.services.has(key)) continue;
      for (const { key: portKey, requestSig } of entry.ports) {
        if (!requestSig) continue;
        const stored = entry.plans.get(portKey);
        if (stored?.fromLb === true && stored.requestSig === requestSig) continue;
        const prepared = this.preparedOf(entry);
        requests.push(lbRequestFor(this.config, prepared, prepared.ports.find((p) => p.key === portKey)!));
      }
    }
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
      if (!snapshot.services.has(key)) {
        this.cache.delete(key);
        this.unanswered.delete(key);
        if (entry.output) collectStale(entry.output, undefined, stale);
        this.install(key, entry.output, undefined);
        continue;
      }
      let dirty = entry.outdated;
      for (const { key: portKey, requestSig } of entry.ports) {
        if (!requestSig) continue;
        const result = lb.get(portKey);
        if (!result && entry.plans.get(portKey)?.requestSig === requestSig) continue;
        const prepared = this.preparedOf(entry);
        this.choosePlan(entry, prepared.ports.find((p) => p.key === portKey)!, result, problems);
        dirty = true;
      }
      const waiting = entry.ports.some((p) => p.requestSig && !entry.plans.get(p.key)?.fromLb);
      if (waiting) this.unanswered.add(key);
      else this.unanswered.delete(key);
      if (!dirty) continue;
      const prepared = this.preparedOf(entry);
      const plans = new Map<string, ResolvedPlan>();
      for (const port of prepared.ports) {
        const stored = entry.plans.get(port.key);
        if (stored) plans.set(port.key, stored.plan);
      }
      const before = entry.output;
      // Kept until the service changes: its push-built rule lists are trimmed once (see compactArrays).
      entry.output = compactArrays(planService(this.config, prepared, plans));
      entry.outdated = false;
      entry.prepared = null;
      if (before) collectStale(before, entry.output, stale);
      this.install(key, before, entry.output);
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
      const service = snapshot.services.get(key);
      if (service) this.refresh(key, service, this.inputs.slicesOf(key));
    }
  }

  private refresh(key: string, service: Service, slices: EndpointSlice[]): void {
    const entry = this.cache.get(key);
    if (entry && entry.service === service && sameSlices(entry.slices, slices)) return;
    const prepared = prepareService(this.config, service, slices);
    const ports = prepared.ports.map((p) => ({ key: p.key, requestSig: p.requestSig }));
    if (!entry) {
      this.cache.set(key, { service, slices, prepared, ports, outdated: true, plans: new Map() });
      return;
    }
    // The old output stays until the re-plan, to find UDP endpoints that went away.
    entry.service = service;
    entry.slices = slices;
    entry.prepared = prepared;
    entry.ports = ports;
    entry.outdated = true;
    for (const k of entry.plans.keys()) if (!ports.some((p) => p.key === k)) entry.plans.delete(k);
  }

  private preparedOf(entry: Entry): PreparedService {
    entry.prepared ??= prepareService(this.config, entry.service, entry.slices);
    return entry.prepared;
  }

  /** Picks the plan of one port; returns true when it differs from the stored one. */
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
        return storePlan(entry, port, plan, true, plan);
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
      return storePlan(
        entry,
        port,
        lastGood ? remap(lastGood, port) : equalRandom(port.reachable),
        false,
        lastGood,
      );
    }
    if (stored && stored.requestSig === port.requestSig) return false;
    return storePlan(entry, port, equalRandom(port.reachable), false, stored?.lastGood);
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
    for (const chain of before?.chains ?? []) this.chains.delete(chain.name);
    for (const set of before?.sets ?? []) this.ownSets.delete(set.name);
    for (const chain of after?.chains ?? []) this.chains.set(chain.name, chain);
    for (const set of after?.sets ?? []) this.ownSets.set(set.name, set);
    this.shared.replace(key, before?.elements ?? [], after?.elements ?? []);
    if (after?.problems.length) this.serviceProblems.set(key, after.problems);
    else this.serviceProblems.delete(key);
    for (const [output, sign] of [
      [before, -1],
      [after, 1],
    ] as const) {
      if (!output || output.servicePorts === 0) continue;
      this.stats.services += sign;
      this.stats.servicePorts += sign * output.servicePorts;
      this.stats.endpoints += sign * output.endpoints;
    }
  }
}

function describeOwner(owner: string): { namespace: string; name: string } {
  const slash = owner.indexOf("/");
  return { namespace: owner.slice(0, slash), name: owner.slice(slash + 1) };
}

function collectStale(
  before: ServiceOutput,
  after: ServiceOutput | undefined,
  out: StaleUdpEndpoint[],
): void {
  if (!before.udpTargets) return;
  for (const [id, target] of before.udpTargets) {
    if (after?.udpTargets?.has(id)) continue;
    for (const serviceIP of target.serviceIPs)
      out.push({ address: target.address, port: target.port, serviceIP });
  }
}
