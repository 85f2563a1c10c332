// One Service → its chains, affinity sets and the elements it adds to the shared dispatch maps, in
// two steps: the frame (everything the LB plans do not decide: elements, sets, external and firewall
// chains, and what each endpoint-selection chain chooses from) and the drawing of the selection
// chains from the plans. Pure: the same inputs give the same output, so the proxy caches both per
// service; a new LB plan (an algorithm swap) draws only the selection chains of the frame again.

import {
  concat,
  drop,
  element,
  fib,
  goto,
  jump,
  match,
  payload,
  ret,
  setRef,
  cidr as toCidr,
} from "../../nft/build.ts";
import type { DesiredChain, DesiredRule, DesiredSet } from "../../nft/desired.ts";
import type { Expression, SetElement, Verdict } from "../../nft/model.ts";
import { verdictText } from "../../nft/render-text.ts";
import type { LbEndpoint, LbRequest } from "../lb/plan.ts";
import { compactArrays } from "../store/compact.ts";
import { flat } from "../store/flat.ts";
import type { EndpointSlice, Service } from "../store/objects.ts";
import type { ObjectProblem } from "../store/problems.ts";
import { cidrContains, familyOf, type ResolvedConfig } from "./config.ts";
import {
  type CategorizedEndpoints,
  categorize,
  endpointId,
  endpointsForPort,
  type ServiceEndpoint,
} from "./endpoints.ts";
import {
  addressId,
  affinitySet,
  chains,
  clusterChain,
  externalChain,
  type Family,
  firewallChain,
  lbKey,
  localChain,
  type SetNames,
  servicePortBase,
  sets,
} from "./names.ts";
import {
  affinityRules,
  equalRandom,
  type ResolvedPlan,
  type SelectionInput,
  type StatementPool,
  selectionRules,
} from "./selection.ts";
import { slotElements, slotTable } from "./slots.ts";

/** A problem met while planning: the same shape as the store's validation problems. */
export type PlanProblem = ObjectProblem;

/** One element a service adds to a shared set or map; `id` identifies its key within the set. */
export interface ElementContribution {
  set: string;
  id: string;
  element: SetElement;
  /** The element's value as text ("" for a plain set), to tell a changed element from an equal one. */
  value: string;
  /** The service field the element comes from, for conflict reports. */
  field: string;
  /** A conflict on this element is reported by another element of the same owner (slots 1–15 of a port). */
  quiet?: boolean;
}

export interface PreparedPort {
  index: number;
  key: string;
  protocol: string;
  /** By family, for the families of the service's cluster IPs. */
  categorized: Partial<Record<Family, CategorizedEndpoints>>;
  /** Every endpoint some chain of this port may use, both families: what the LB plan is made for. */
  reachable: ServiceEndpoint[];
  /**
   * The request's endpoints as text ("" without endpoints). With the service's `requestHead` it says
   * all an LbRequest for this port would: a stored plan is current while both are unchanged.
   */
  endpointsSig: string;
}

/** A service checked and its endpoints worked out: everything but the LB plans. */
export interface PreparedService {
  service: Service;
  families: Family[];
  ports: PreparedPort[];
  problems: PlanProblem[];
  /** False for headless and ExternalName services, and for broken ones. */
  programmed: boolean;
  algorithm: string;
  params: Record<string, string>;
  /** Algorithm, parameters and node zone as text: the part of every port's request the service decides. */
  requestHead: string;
}

/** An endpoint-selection chain of a frame, waiting for its port's LB plan. */
export interface SelectionChain {
  /** Its position in the frame's chains. */
  index: number;
  name: string;
  portKey: string;
  input: SelectionInput;
  /** The affinity rules that come first (they do not depend on the plan). */
  head: readonly DesiredRule[];
  /**
   * The "maps" shape: a plain ClusterIP port whose plan may become slot elements of `set` instead
   * of this chain. Drawn as a chain (with its dispatch element) when the plan does not fit.
   */
  slots?: { set: string; dispatch: string; ip: string; proto: string; port: number };
}

/** What a service programs apart from the endpoint choice of its selection chains. */
export interface ServiceFrame {
  /** The service's chains in order; the selection chains' places are empty. */
  chains: (DesiredChain | undefined)[];
  selections: SelectionChain[];
  sets: DesiredSet[];
  elements: ElementContribution[];
  problems: PlanProblem[];
  servicePorts: number;
  endpoints: number;
  /** UDP only: "portKey|family|endpointId" → the destination addresses clients use to reach it. */
  udpTargets?: Map<string, { address: string; port: number; serviceIPs: string[] }>;
}

export interface ServiceOutput {
  frame: ServiceFrame;
  /** The frame's chains with the selection chains drawn (those drawn as slots left out). */
  chains: DesiredChain[];
  /** What the drawing adds to the shared sets: slot elements, or the dispatch element of a chain. */
  elements: ElementContribution[];
  /** The plan each of the frame's selections was drawn from. */
  plans: ResolvedPlan[];
  /** The drawn chains by their place in the frame's chains. */
  chainAt: Map<number, DesiredChain>;
}

const LB_PREFIX = "lb.wasmplane.io/";

function problem(service: Service, field: string, message: string): PlanProblem {
  return { kind: "Service", namespace: service.namespace, name: service.name, field, message };
}

export function prepareService(
  config: ResolvedConfig,
  service: Service,
  slices: EndpointSlice[],
): PreparedService {
  const out: PreparedService = {
    service,
    families: [],
    ports: [],
    problems: [],
    programmed: false,
    algorithm: "",
    params: {},
    requestHead: "",
  };
  if (service.type === "ExternalName" || service.clusterIPs.length === 0) return out;
  if (!addFamilies(service, out)) return out;
  setLbSettings(config, out);
  for (let index = 0; index < service.ports.length; index++) {
    const found = endpointsForPort(service, index, slices);
    if (found.problem) {
      out.problems.push(problem(service, found.problem.field, found.problem.message));
      out.ports = [];
      return out;
    }
    out.ports.push(preparePort(config, service, index, out.families, found.endpoints));
  }
  out.programmed = true;
  // Kept while the service is unchanged: trim the push-built lists once (see compactArrays).
  out.families = out.families.slice();
  out.ports = compactArrays(out.ports);
  return out;
}

/** The families of the cluster IPs into `out`; false, with a problem, when they contradict spec.ipFamilies or repeat. */
function addFamilies(service: Service, out: PreparedService): boolean {
  for (let i = 0; i < service.clusterIPs.length; i++) {
    const fam = familyOf(service.clusterIPs[i]);
    const declared = service.ipFamilies[i];
    if (declared !== undefined && declared !== (fam === 4 ? "IPv4" : "IPv6")) {
      out.problems.push(
        problem(
          service,
          `spec.ipFamilies[${i}]`,
          `is ${declared} but spec.clusterIPs[${i}] ${service.clusterIPs[i]} is IPv${fam}`,
        ),
      );
      return false;
    }
    if (out.families.includes(fam)) {
      out.problems.push(problem(service, `spec.clusterIPs[${i}]`, `a second IPv${fam} cluster IP`));
      return false;
    }
    out.families.push(fam);
  }
  return true;
}

/** One port's endpoints by family and category, and every endpoint some chain of it may use. */
function preparePort(
  config: ResolvedConfig,
  service: Service,
  index: number,
  families: Family[],
  endpoints: ServiceEndpoint[],
): PreparedPort {
  const port = service.ports[index];
  const categorized: Partial<Record<Family, CategorizedEndpoints>> = {};
  const reachableIds = new Set<string>();
  const reachable: ServiceEndpoint[] = [];
  for (const fam of families) {
    const c = categorize(
      endpoints.filter((e) => e.family === fam),
      config.nodeName,
      config.nodeZone,
    );
    categorized[fam] = c;
    for (const e of [...c.cluster, ...c.local]) {
      const id = endpointId(e);
      if (!reachableIds.has(id)) {
        reachableIds.add(id);
        reachable.push(e);
      }
    }
  }
  return {
    index,
    key: lbKey(service.namespace, service.name, port.name),
    protocol: port.protocol.toLowerCase(),
    categorized,
    reachable,
    endpointsSig: reachable.map(endpointSig).join(","),
  };
}

/** The algorithm and parameters from the service's annotations (the config's default algorithm without one). */
function setLbSettings(config: ResolvedConfig, out: PreparedService): void {
  const annotations = out.service.annotations;
  out.algorithm = annotations[`${LB_PREFIX}algorithm`] || config.defaultLbAlgorithm;
  out.params = {};
  for (const k in annotations)
    if (k.startsWith(LB_PREFIX) && k !== `${LB_PREFIX}algorithm`)
      out.params[k.slice(LB_PREFIX.length)] = annotations[k];
  out.requestHead = internedHead(
    flat(out.algorithm, "\n", JSON.stringify(out.params), "\n", config.nodeZone ?? "", "\n", config.nodeName),
  );
}

/**
 * One string per distinct request head: most Services share a handful (the default algorithm, no
 * parameters), and each kept its own copy in its prepared form and its stored plans. Bounded: past
 * HEADS_KEPT distinct heads, new ones are not kept (they still work, as copies).
 */
const heads = new Map<string, string>();
const HEADS_KEPT = 4096;
function internedHead(head: string): string {
  const known = heads.get(head);
  if (known !== undefined) return known;
  if (heads.size < HEADS_KEPT) heads.set(head, head);
  return head;
}

/**
 * `prepared` for a Service that differs from its own only in annotations: the same ports and
 * endpoints, the LB settings read again.
 */
export function withAnnotations(
  config: ResolvedConfig,
  prepared: PreparedService,
  service: Service,
): PreparedService {
  const out = { ...prepared, service };
  if (out.programmed) setLbSettings(config, out);
  return out;
}

const endpointSig = (e: ServiceEndpoint) => `${e.address}#${e.port}#${e.nodeName ?? ""}#${e.zone ?? ""}`;

/** The LbRequest of a port with endpoints. */
export function lbRequestFor(
  config: ResolvedConfig,
  prepared: PreparedService,
  port: PreparedPort,
): LbRequest {
  return {
    key: port.key,
    algorithm: prepared.algorithm,
    endpoints: port.reachable.map((e) => {
      const out: LbEndpoint = { address: e.address, port: e.port, weight: 1 };
      if (e.nodeName !== undefined) out.nodeName = e.nodeName;
      if (e.zone !== undefined) out.zone = e.zone;
      return out;
    }),
    nodeName: config.nodeName,
    ...(config.nodeZone ? { nodeZone: config.nodeZone } : {}),
    params: prepared.params,
  };
}

interface FamilyView {
  nodeName: string;
  family: Family;
  ip: "ip" | "ip6";
  clusterIP: string;
  externalIPs: readonly string[];
  loadBalancerIPs: readonly string[];
  sourceRanges: readonly string[];
  nodeIPs: readonly string[];
  clusterCIDRs: readonly string[];
}

const NONE: readonly string[] = [];
function ofFamily(list: string[], family: Family): readonly string[] {
  if (list.length === 0) return NONE;
  return list.filter((a) => familyOf(a) === family);
}

function familyView(config: ResolvedConfig, service: Service, family: Family): FamilyView {
  return {
    nodeName: config.nodeName,
    family,
    ip: family === 4 ? "ip" : "ip6",
    clusterIP: service.clusterIPs.find((a) => familyOf(a) === family)!,
    externalIPs: ofFamily(service.externalIPs, family),
    loadBalancerIPs: ofFamily(service.loadBalancerIPs, family),
    sourceRanges: ofFamily(service.loadBalancerSourceRanges, family),
    nodeIPs: config.families[family].nodeIPs,
    clusterCIDRs: config.families[family].clusterCIDRs,
  };
}

/** The frame of one prepared service: all but the endpoint choice (see ServiceFrame). */
export function frameService(
  config: ResolvedConfig,
  prepared: PreparedService,
  pool: StatementPool,
): ServiceFrame {
  const out: ServiceFrame = {
    chains: [],
    selections: [],
    sets: [],
    elements: [],
    problems: prepared.problems.length > 0 ? [...prepared.problems] : [],
    servicePorts: 0,
    endpoints: 0,
  };
  if (!prepared.programmed) return out;
  const service = prepared.service;
  for (const family of prepared.families) {
    const view = familyView(config, service, family);
    const names = sets(family);
    out.elements.push({
      set: names.clusterIPs,
      id: view.clusterIP,
      element: element(view.clusterIP),
      value: "",
      field: "spec.clusterIPs",
    });
    for (const port of prepared.ports) planPortFamily(config, prepared, port, view, out, pool);
  }
  // Kept until the service changes: the push-built lists are trimmed once (see compactArrays).
  out.chains = compactArrays(out.chains);
  out.sets = compactArrays(out.sets);
  out.elements = compactArrays(out.elements);
  out.selections = out.selections.slice();
  return out;
}

/**
 * The service's chains with each selection chain drawn from its port's plan (`planOf`; equal-weight
 * random over the chain's endpoints without one). A selection whose plan is the one `previous` (of
 * the same frame) was drawn from keeps its chain object, so nft/ sees it unchanged.
 */
export function drawService(
  frame: ServiceFrame,
  planOf: (portKey: string) => ResolvedPlan | undefined,
  pool: StatementPool,
  previous?: ServiceOutput,
): ServiceOutput {
  const chains = frame.chains.slice();
  const plans: ResolvedPlan[] = new Array(frame.selections.length);
  const elements: ElementContribution[] = [];
  const same = previous?.frame === frame ? previous : undefined;
  for (let i = 0; i < frame.selections.length; i++) {
    const sel = frame.selections[i];
    const plan = planOf(sel.portKey) ?? equalRandom(sel.input.endpoints);
    plans[i] = plan;
    if (sel.slots) {
      const table = slotTable(plan, sel.input.endpoints);
      const { set, ip, proto, port } = sel.slots;
      if (table) {
        for (const e of slotElements(ip, proto, port, table))
          elements.push({ set, field: "spec.clusterIPs", ...e });
        continue;
      }
      const target = goto(sel.name);
      const id = addressId(ip, proto, port);
      const key = concat(ip, proto, port);
      elements.push({
        set: sel.slots.dispatch,
        id,
        field: "spec.clusterIPs",
        value: verdictText(target),
        element: element(key, target),
      });
    }
    const kept = same && same.plans[i] === plan ? same.chainAt.get(sel.index) : undefined;
    if (kept) {
      chains[sel.index] = kept;
      continue;
    }
    const rules = selectionRules(sel.input, plan, pool);
    chains[sel.index] = { name: sel.name, rules: sel.head.length > 0 ? [...sel.head, ...rules] : rules };
  }
  const chainAt = new Map<number, DesiredChain>();
  const drawn: DesiredChain[] = [];
  for (let i = 0; i < chains.length; i++) {
    const c = chains[i];
    if (c === undefined) continue;
    drawn.push(c);
    chainAt.set(i, c);
  }
  return { frame, chains: drawn, elements, plans, chainAt };
}

function pushElement(
  out: ServiceFrame,
  set: string,
  key: Expression[],
  id: string,
  field: string,
  value?: Verdict,
): void {
  out.elements.push({
    set,
    id,
    field,
    value: value ? verdictText(value) : "",
    element: element(key.length === 1 ? key[0] : concat(...key), value),
  });
}

/** A service address: dispatch to `target`, and/or the no-endpoint verdict `filter`. */
function pushIPElements(
  out: ServiceFrame,
  names: SetNames,
  ip: string,
  proto: string,
  port: number,
  field: string,
  target: string | undefined,
  filter: Verdict | undefined,
): void {
  const id = addressId(ip, proto, port);
  if (target) pushElement(out, names.serviceIPs, [ip, proto, port], id, field, goto(target));
  if (filter) pushElement(out, names.noEndpoints, [ip, proto, port], id, field, filter);
}

const NO_RULES: readonly DesiredRule[] = [];

/** Reserves the place of a selection chain in the frame. */
function selectionChain(
  out: ServiceFrame,
  name: string,
  portKey: string,
  input: SelectionInput,
  pool: StatementPool,
  slots?: SelectionChain["slots"],
): void {
  const head = input.affinitySets ? affinityRules(input, pool) : NO_RULES;
  out.selections.push({ index: out.chains.length, name, portKey, input, head, ...(slots ? { slots } : {}) });
  out.chains.push(undefined);
}

/** Which chains one service port has in one family, and where each of its addresses goes. */
interface PortRouting {
  proto: string;
  /** The common part of the port's chain names. */
  base: string;
  cluster: ServiceEndpoint[];
  local: ServiceEndpoint[];
  internalLocal: boolean;
  externalLocal: boolean;
  clusterName?: string;
  localName?: string;
  extName?: string;
  fwName?: string;
  /** Where cluster-IP traffic goes; absent when it has no endpoint to go to. */
  internalTarget?: string;
  /** The no-endpoint verdicts; absent when there is an endpoint. */
  internalFilter?: Verdict;
  externalFilter?: Verdict;
}

function planPortFamily(
  config: ResolvedConfig,
  prepared: PreparedService,
  port: PreparedPort,
  view: FamilyView,
  out: ServiceFrame,
  pool: StatementPool,
): void {
  const sp = prepared.service.ports[port.index];
  const names = sets(view.family);
  const routing = classifyPort(prepared.service, port, view);
  const slots =
    config.shape === "maps" && fitsSlotMap(prepared.service, sp, view, routing)
      ? {
          set: names.backends,
          dispatch: names.serviceIPs,
          ip: view.clusterIP,
          proto: routing.proto,
          port: sp.port,
        }
      : undefined;
  // Its dispatch element, if it keeps a chain, comes with the drawing (drawService).
  if (slots) routing.internalTarget = undefined;
  out.servicePorts++;
  emitAddressElements(out, names, view, port.index, sp, routing);
  const affinity = emitEndpoints(out, names, view, prepared.service, port, routing);
  const input = (endpoints: ServiceEndpoint[]): SelectionInput =>
    affinity
      ? { family: view.family, protocol: routing.proto, endpoints, affinitySets: affinity }
      : { family: view.family, protocol: routing.proto, endpoints };
  if (routing.clusterName)
    selectionChain(out, routing.clusterName, port.key, input(routing.cluster), pool, slots);
  if (routing.localName) selectionChain(out, routing.localName, port.key, input(routing.local), pool);
  if (routing.extName)
    out.chains.push({ name: routing.extName, rules: externalChainRules(routing, view, names) });
  if (routing.fwName) out.chains.push({ name: routing.fwName, rules: firewallChainRules(view) });
}

/**
 * The "maps" fast path: a port whose only address is its ClusterIP and whose cluster chain would do
 * nothing but pick an endpoint. Left out, and so kept as chains: session affinity (rules record the
 * client), internalTrafficPolicy Local (its own endpoint set and the drop without one), node ports,
 * external and load-balancer IPs (the external chain: masquerade, eTP Local short-circuits, source
 * ranges), and ports without cluster endpoints (their no-endpoint verdicts are elements already).
 * What the chain shape does for every service stays where it is, once per table: the off-cluster
 * and masqueradeAll marks (dispatch chain, before the map), hairpin (postrouting, by the hairpin
 * set this port still fills), the reject of undefined ports and unallocated addresses.
 */
function fitsSlotMap(
  service: Service,
  sp: Service["ports"][number],
  view: FamilyView,
  r: PortRouting,
): boolean {
  return (
    r.clusterName !== undefined &&
    r.internalTarget === r.clusterName &&
    !r.internalLocal &&
    service.sessionAffinityTimeoutSeconds <= 0 &&
    sp.nodePort <= 0 &&
    view.externalIPs.length === 0 &&
    view.loadBalancerIPs.length === 0
  );
}

/** Classify: the port's chains and verdicts from its traffic policies and endpoints. */
function classifyPort(service: Service, port: PreparedPort, view: FamilyView): PortRouting {
  const sp = service.ports[port.index];
  const { family } = view;
  const proto = port.protocol;
  const base = servicePortBase(service.namespace, service.name, proto, sp.name);
  const { cluster, local, hasAny } = port.categorized[family]!;
  const externallyAccessible =
    sp.nodePort > 0 || view.externalIPs.length > 0 || view.loadBalancerIPs.length > 0;
  const internalLocal = service.internalTrafficPolicy === "Local";
  const externalLocal = service.externalTrafficPolicy === "Local";
  // The cluster chain also serves the eTP=Local short-circuits (pod and node traffic to external IPs).
  const usesCluster = !internalLocal || externallyAccessible;
  const usesLocal = internalLocal || (externallyAccessible && externalLocal);
  const clusterName = usesCluster && cluster.length > 0 ? clusterChain(family, base) : undefined;
  const localName = usesLocal && local.length > 0 ? localChain(family, base) : undefined;
  const internalChain = internalLocal ? localName : clusterName;
  const hasInternal = hasAny && internalChain !== undefined;
  const hasExternal = hasAny && (externalLocal ? localName !== undefined : clusterName !== undefined);
  const noEndpointVerdict: Verdict = hasAny ? drop() : goto(chains.reject);
  const usesFirewall = view.loadBalancerIPs.length > 0 && view.sourceRanges.length > 0;
  return {
    proto,
    base,
    cluster,
    local,
    internalLocal,
    externalLocal,
    clusterName,
    localName,
    extName: hasAny && externallyAccessible ? externalChain(family, base) : undefined,
    fwName: usesFirewall ? firewallChain(family, base) : undefined,
    internalTarget: hasInternal ? internalChain : undefined,
    internalFilter: hasInternal ? undefined : noEndpointVerdict,
    externalFilter: hasExternal ? undefined : noEndpointVerdict,
  };
}

/** Emit: the port's elements in the shared dispatch maps, one per service address. */
function emitAddressElements(
  out: ServiceFrame,
  names: SetNames,
  view: FamilyView,
  portIndex: number,
  sp: Service["ports"][number],
  r: PortRouting,
): void {
  const { proto } = r;
  pushIPElements(
    out,
    names,
    view.clusterIP,
    proto,
    sp.port,
    "spec.clusterIPs",
    r.internalTarget,
    r.internalFilter,
  );
  for (const ip of view.externalIPs)
    pushIPElements(out, names, ip, proto, sp.port, "spec.externalIPs", r.extName, r.externalFilter);
  for (const ip of view.loadBalancerIPs) {
    const field = "status.loadBalancer.ingress";
    pushIPElements(out, names, ip, proto, sp.port, field, r.extName, r.externalFilter);
    if (r.fwName)
      pushElement(
        out,
        names.firewall,
        [ip, proto, sp.port],
        addressId(ip, proto, sp.port),
        field,
        goto(r.fwName),
      );
  }
  if (sp.nodePort > 0) {
    const id = flat(proto, " . ", sp.nodePort);
    const field = `spec.ports[${portIndex}].nodePort`;
    if (r.extName) pushElement(out, names.nodePorts, [proto, sp.nodePort], id, field, goto(r.extName));
    if (r.externalFilter)
      pushElement(out, names.noEndpointNodePorts, [proto, sp.nodePort], id, field, r.externalFilter);
  }
}

/**
 * Emit: per endpoint the selection chains may use, its hairpin element, its affinity set and its
 * UDP target. Returns the affinity set of each endpoint (by endpoint id) when the service has affinity.
 */
function emitEndpoints(
  out: ServiceFrame,
  names: SetNames,
  view: FamilyView,
  service: Service,
  port: PreparedPort,
  r: PortRouting,
): Map<string, string> | undefined {
  const { family } = view;
  const sp = service.ports[port.index];
  const reachable = new Map<string, ServiceEndpoint>();
  for (const e of [...(r.clusterName ? r.cluster : []), ...(r.localName ? r.local : [])])
    reachable.set(endpointId(e), e);
  out.endpoints += reachable.size;
  const affinity = service.sessionAffinityTimeoutSeconds > 0 ? new Map<string, string>() : undefined;
  for (const [id, e] of reachable) {
    // Only a pod on this node can reach itself through this node's rules (unknown node: assume so).
    if (e.nodeName === undefined || e.nodeName === view.nodeName)
      pushElement(out, names.hairpin, [e.address, e.address], e.address, "endpoints");
    if (affinity) {
      const name = affinitySet(family, r.base, e.address, e.port);
      affinity.set(id, name);
      out.sets.push({
        name,
        type: family === 4 ? "ipv4_addr" : "ipv6_addr",
        flags: ["dynamic", "timeout"],
        timeout: service.sessionAffinityTimeoutSeconds,
        elements: [],
      });
    }
    if (r.proto === "udp") {
      const serviceIPs = [view.clusterIP, ...view.externalIPs, ...view.loadBalancerIPs];
      if (sp.nodePort > 0) serviceIPs.push(...view.nodeIPs);
      out.udpTargets ??= new Map();
      out.udpTargets.set(`${port.key}|${family}|${id}`, { address: e.address, port: e.port, serviceIPs });
    }
  }
  return affinity;
}

/** The external chain: masquerade and go to the cluster chain, or eTP=Local's short-circuits. */
function externalChainRules(r: PortRouting, view: FamilyView, names: SetNames): DesiredRule[] {
  const rules: DesiredRule[] = [];
  if (!r.externalLocal) {
    // External traffic may leave the node to reach an endpoint: masquerade so replies come back.
    rules.push({ expr: [jump(chains.markMasquerade)] });
    if (r.clusterName) rules.push({ expr: [goto(r.clusterName)] });
    return rules;
  }
  const shortCircuit = r.internalLocal ? (r.localName ?? r.clusterName) : r.clusterName;
  if (view.clusterCIDRs.length > 0 && shortCircuit)
    rules.push({
      expr: [match(payload(view.ip, "saddr"), setRef(names.clusterCIDRs)), goto(shortCircuit)],
      comment: "short-circuit pod traffic",
    });
  rules.push({
    expr: [match(fib(["saddr"], "type"), "local"), jump(chains.markMasquerade)],
    comment: "masquerade local traffic",
  });
  if (r.clusterName)
    rules.push({
      expr: [match(fib(["saddr"], "type"), "local"), goto(r.clusterName)],
      comment: "short-circuit local traffic",
    });
  if (r.localName) rules.push({ expr: [goto(r.localName)] });
  return rules;
}

/** The firewall chain: loadBalancerSourceRanges pass, everything else is dropped. */
function firewallChainRules(view: FamilyView): DesiredRule[] {
  const sources = [...view.sourceRanges];
  // A request from this node to its own load-balancer VIP loops back with the VIP as source.
  if (view.nodeIPs.some((n) => view.sourceRanges.some((r) => cidrContains(r, n))))
    sources.push(...view.loadBalancerIPs);
  return [
    ...sources.map((s) => ({ expr: [match(payload(view.ip, "saddr"), toCidr(s)), ret()] })),
    { expr: [drop()] },
  ];
}
