// The service planner: Services and EndpointSlices (plus LB plans) → the `svc-`/`services-` part of
// the wasmplane table. Stateful only as a cache: each service's output is kept with the inputs it
// was made from (object identity; the store never mutates objects), so after the first plan a change
// to one Service or EndpointSlice re-plans only that service, and unchanged chains keep their object
// identity (nft/ compares and renders each chain object once).

import { cidr } from "../../nft/build.ts";
import type { DesiredChain, DesiredSet, TableFragment } from "../../nft/desired.ts";
import type { LbRequest, LbResult } from "../lb/plan.ts";
import type { EndpointSlice, Service, Snapshot } from "../store/objects.ts";
import { baseChains, setDeclarations } from "./base-rules.ts";
import { type ResolvedConfig, resolveConfig, type ServiceProxyConfig } from "./config.ts";
import { endpointId } from "./endpoints.ts";
import { type Family, sets } from "./names.ts";
import { equalRandom, planProblem, type ResolvedPlan, resolvePlan } from "./selection.ts";
import {
  type PlanProblem,
  type PreparedPort,
  type PreparedService,
  planService,
  prepareService,
  type ServiceOutput,
} from "./service-plan.ts";

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
}

interface Entry {
  service: Service;
  slices: EndpointSlice[];
  prepared: PreparedService;
  output?: ServiceOutput;
  /** The inputs changed since `output` was made. */
  outdated: boolean;
  plans: Map<string, StoredPlan>;
  lastGood: Map<string, ResolvedPlan>;
}

const NO_SLICES: EndpointSlice[] = [];

function sameSlices(a: EndpointSlice[], b: EndpointSlice[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
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
  private readonly fixedChains: DesiredChain[];
  private stale: StaleUdpEndpoint[] = [];

  constructor(config: ServiceProxyConfig) {
    this.config = resolveConfig(config);
    this.fixedChains = baseChains(this.config);
  }

  /** The service ports whose LB plan is missing or out of date: what to ask the LbPlanner. */
  lbRequests(snapshot: Snapshot): LbRequest[] {
    const requests: LbRequest[] = [];
    const slicesByService = indexSlices(snapshot);
    for (const [key, service] of snapshot.services) {
      const entry = this.entryFor(key, service, slicesByService.get(key) ?? NO_SLICES);
      for (const port of entry.prepared.ports) {
        if (!port.request) continue;
        const stored = entry.plans.get(port.key);
        const current = stored?.fromLb === true && stored.requestSig === port.requestSig;
        if (!current) requests.push(port.request);
      }
    }
    return requests;
  }

  /** Forgets which plans came from the LB planner, so the next lbRequests asks for all of them (plugin swap). */
  invalidateLbPlans(): void {
    for (const entry of this.cache.values()) for (const stored of entry.plans.values()) stored.fromLb = false;
  }

  plan(snapshot: Snapshot, lb: Map<string, LbResult>): ServicePlan {
    const slicesByService = indexSlices(snapshot);
    const problems: PlanProblem[] = [];
    const stale: StaleUdpEndpoint[] = [];
    for (const [key, entry] of this.cache) {
      if (snapshot.services.has(key)) continue;
      this.cache.delete(key);
      if (entry.output) collectStale(entry.output, undefined, stale);
    }
    for (const [key, service] of snapshot.services) {
      const entry = this.entryFor(key, service, slicesByService.get(key) ?? NO_SLICES);
      let dirty = entry.outdated;
      for (const port of entry.prepared.ports) {
        if (!port.request) continue;
        if (this.choosePlan(entry, port, lb.get(port.key), problems)) dirty = true;
      }
      if (!dirty) continue;
      const plans = new Map<string, ResolvedPlan>();
      for (const [k, stored] of entry.plans) plans.set(k, stored.plan);
      const before = entry.output;
      entry.output = planService(this.config, entry.prepared, plans);
      entry.outdated = false;
      if (before) collectStale(before, entry.output, stale);
    }
    this.stale = stale;
    return this.assemble(snapshot, problems);
  }

  /** UDP endpoints removed by the last plan; delete their conntrack entries after a successful apply. */
  staleUdpEndpoints(): StaleUdpEndpoint[] {
    return this.stale;
  }

  private entryFor(key: string, service: Service, slices: EndpointSlice[]): Entry {
    const entry = this.cache.get(key);
    if (entry && entry.service === service && sameSlices(entry.slices, slices)) return entry;
    const prepared = prepareService(this.config, service, slices);
    if (!entry) {
      const created: Entry = {
        service,
        slices,
        prepared,
        outdated: true,
        plans: new Map(),
        lastGood: new Map(),
      };
      this.cache.set(key, created);
      return created;
    }
    // The old output stays until the re-plan, to find UDP endpoints that went away.
    entry.service = service;
    entry.slices = slices;
    entry.prepared = prepared;
    entry.outdated = true;
    return entry;
  }

  /** Picks the plan of one port; returns true when it differs from the stored one. */
  private choosePlan(
    entry: Entry,
    port: PreparedPort,
    result: LbResult | undefined,
    problems: PlanProblem[],
  ): boolean {
    const request = port.request!;
    const stored = entry.plans.get(port.key);
    const store = (plan: ResolvedPlan, fromLb: boolean) => {
      entry.plans.set(port.key, { plan, requestSig: port.requestSig, fromLb });
      return true;
    };
    if (result?.ok) {
      const bad = planProblem(result.plan, request.endpoints.length);
      if (!bad) {
        const plan = resolvePlan(result.plan, request.endpoints);
        entry.lastGood.set(port.key, plan);
        return store(plan, true);
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
      const lastGood = entry.lastGood.get(port.key);
      return store(lastGood ? remap(lastGood, port) : equalRandom(port.reachable), false);
    }
    if (stored && stored.requestSig === port.requestSig) return false;
    return store(equalRandom(port.reachable), false);
  }

  private assemble(snapshot: Snapshot, problems: PlanProblem[]): ServicePlan {
    const fragment: TableFragment = { chains: new Map(), sets: new Map() };
    for (const chain of this.fixedChains) fragment.chains.set(chain.name, chain);
    const shared = new Map<string, { set: DesiredSet; owners: Map<string, string> }>();
    for (const family of [4, 6] as Family[]) {
      for (const decl of setDeclarations(family)) {
        fragment.sets.set(decl.name, decl);
        shared.set(decl.name, { set: decl, owners: new Map() });
      }
      const names = sets(family);
      const fc = this.config.families[family];
      fragment.sets.get(names.nodePortIPs)!.elements = fc.nodeIPs.map((ip) => ({ key: ip }));
      fragment.sets.get(names.clusterCIDRs)!.elements = fc.clusterCIDRs.map((c) => ({ key: cidr(c) }));
    }
    const stats = { services: 0, servicePorts: 0, endpoints: 0 };
    for (const [key, service] of snapshot.services) {
      const output = this.cache.get(key)?.output;
      if (!output) continue;
      problems.push(...output.problems);
      if (output.servicePorts === 0 && output.chains.length === 0 && output.elements.length === 0) continue;
      stats.services++;
      stats.servicePorts += output.servicePorts;
      stats.endpoints += output.endpoints;
      for (const chain of output.chains) fragment.chains.set(chain.name, chain);
      for (const set of output.sets) fragment.sets.set(set.name, set);
      for (const contribution of output.elements) {
        const target = shared.get(contribution.set)!;
        const owner = target.owners.get(contribution.id);
        if (owner === undefined) {
          target.owners.set(contribution.id, key);
          target.set.elements.push(contribution.element);
        } else if (owner !== key && !sharedByDesign(contribution.set)) {
          problems.push({
            kind: "Service",
            namespace: service.namespace,
            name: service.name,
            field: contribution.field,
            message: `${contribution.id} is already used by service ${owner}; not programmed for this one`,
          });
        }
      }
    }
    return { fragment, problems, stats };
  }
}

/** Sets where two services may legitimately add the same key (one pod behind two services). */
function sharedByDesign(set: string): boolean {
  return set.startsWith("services-hairpin") || set.startsWith("services-cluster-ips");
}

function indexSlices(snapshot: Snapshot): Map<string, EndpointSlice[]> {
  const out = new Map<string, EndpointSlice[]>();
  for (const slice of snapshot.endpointSlices.values()) {
    const key = `${slice.namespace}/${slice.serviceName}`;
    const list = out.get(key);
    if (list) list.push(slice);
    else out.set(key, [slice]);
  }
  return out;
}

function collectStale(
  before: ServiceOutput,
  after: ServiceOutput | undefined,
  out: StaleUdpEndpoint[],
): void {
  for (const [id, target] of before.udpTargets) {
    if (after?.udpTargets.has(id)) continue;
    for (const serviceIP of target.serviceIPs)
      out.push({ address: target.address, port: target.port, serviceIP });
  }
}
