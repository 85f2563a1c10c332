// Endpoint selection inside one per-service-port chain, from an LB plan (a selection mode and a slot
// table). The chain is a short cascade of rules, each `SELECTOR dnat to ENDPOINT`, without sets or
// maps: a shared named slot map would be bound by one rule per service and the kernel walks every
// binding for every element it adds (quadratic in services), and per-service anonymous maps make
// commits many times slower (see docs/services.md for the measurements).
//   random       rule k: `numgen random mod R < w_k` where R is the weight left after rules 0..k-1,
//                so endpoint k is chosen with probability w_k / total; the last rule is unconditional.
//   round-robin  rule i (slot i of N): `numgen inc mod (N-i) == 0`; each rule counts only the
//                connections that reached it, so connection c takes slot c mod N.
//   hash         `jhash FIELDS mod N seed S` is the same in every rule, so rule j matches the j-th run
//                of consecutive slots naming the same endpoint (`== i` or a range `i-j`).
// The exception is a hash table with more than MAX_CASCADE_RUNS runs (a Maglev table has about
// M·(1 − 1/N) runs, tens of thousands for 40 endpoints), or a round-robin table of more than
// MAX_CASCADE_RUNS slots: the cascade would be walked rule by rule for every new connection, so it
// becomes one rule with an anonymous map from slot to endpoint, `dnat ip to jhash … mod M map
// { SLOT : ADDR . PORT, … }` (or `numgen inc mod M map …`: one counter, connection c takes slot
// c mod M). Each element is one slot, or one run as an interval when that takes fewer kernel
// elements (an interval costs two). With ClientIP affinity the cascade stays: each rule records its
// endpoint in that endpoint's set.

import {
  concat,
  jhash,
  mapLookup,
  match,
  meta,
  numgen,
  payload,
  range,
  setRef,
  setUpdate,
} from "../../nft/build.ts";
import type { DesiredRule } from "../../nft/desired.ts";
import type { DnatStmt, Expression, Statement } from "../../nft/model.ts";
import type { HashField, LbPlan, LbSelection } from "../lb/plan.ts";
import { endpointId } from "./endpoints.ts";
import type { Family } from "./names.ts";

/** The most slots a plan may have: ABI v1's limit (runtime/plugins/lb-codec.ts); Maglev ≤ 1.2/N up to N ≈ 55. */
export const MAX_SLOTS = 65536;

/** A hash plan with more runs of equal slots than this is drawn as one map lookup instead of a cascade. */
export const MAX_CASCADE_RUNS = 64;

/** An LB plan with its slots as endpoint ids, so it survives changes to the endpoint list. */
export interface ResolvedPlan {
  selection: LbSelection;
  slots: string[];
}

const MODES = ["random", "round-robin", "hash"];
const HASH_FIELDS: HashField[] = ["saddr", "sport", "daddr", "dport", "l4proto"];

/** Why a plan cannot be used for `endpointCount` endpoints, or null when it can. */
export function planProblem(plan: LbPlan, endpointCount: number): string | null {
  const sel = plan?.selection as LbSelection | undefined;
  if (!sel || !MODES.includes(sel.mode)) return `unknown selection mode ${JSON.stringify(sel?.mode)}`;
  if (sel.mode === "hash") {
    const allowed = HASH_FIELDS;
    if (!Array.isArray(sel.fields) || sel.fields.length === 0 || sel.fields.some((f) => !allowed.includes(f)))
      return `hash fields must be a non-empty list of ${allowed.join(", ")}`;
    if (!Number.isInteger(sel.seed) || sel.seed < 0 || sel.seed > 0xffffffff)
      return "hash seed must be a 32-bit unsigned integer";
  }
  if (!Array.isArray(plan.slots)) return "slots must be a list";
  if (endpointCount > 0 && plan.slots.length === 0) return "no slots for a service port with endpoints";
  if (plan.slots.length > MAX_SLOTS) return `${plan.slots.length} slots (at most ${MAX_SLOTS})`;
  for (const s of plan.slots)
    if (!Number.isInteger(s) || s < 0 || s >= endpointCount)
      return `slot ${JSON.stringify(s)} is not an endpoint index below ${endpointCount}`;
  return null;
}

export function resolvePlan(plan: LbPlan, endpoints: { address: string; port: number }[]): ResolvedPlan {
  return { selection: plan.selection, slots: plan.slots.map((i) => endpointId(endpoints[i])) };
}

/** Equal-weight random over the given endpoints: the built-in plan. */
export function equalRandom(endpoints: { address: string; port: number }[]): ResolvedPlan {
  return { selection: { mode: "random" }, slots: endpoints.map(endpointId) };
}

export interface SelectionEndpoint {
  address: string;
  port: number;
}

export interface SelectionInput {
  family: Family;
  /** "tcp", "udp" or "sctp". */
  protocol: string;
  /** The endpoints this chain may choose from (never empty). */
  endpoints: SelectionEndpoint[];
  /** ClientIP affinity: the affinity set of each endpoint, by endpoint id. */
  affinitySets?: Map<string, string>;
}

function hashFieldExpr(field: HashField, family: Family): Expression {
  const ip = family === 4 ? "ip" : "ip6";
  switch (field) {
    case "saddr":
      return payload(ip, "saddr");
    case "daddr":
      return payload(ip, "daddr");
    case "sport":
      return payload("th", "sport");
    case "dport":
      return payload("th", "dport");
    case "l4proto":
      return meta("l4proto");
  }
}

/**
 * Statements are never mutated once planned, so the common ones are shared between services: at
 * 10,000 services that saves a few hundred thousand objects (memory, and garbage collection time).
 * Looked up by number rather than by a built string key: a swap of 10,000 services draws ~30,000
 * rules. One pool per planner (ServiceProxy), passed to every call that draws rules.
 */
export class StatementPool {
  private readonly l4Matches = new Map<string, Statement>();
  private readonly randomBelows = new Map<number, Statement[]>();
  private readonly incZeros: Statement[] = [];

  /** `meta l4proto PROTOCOL` */
  l4Match(protocol: string): Statement {
    let s = this.l4Matches.get(protocol);
    if (!s) {
      s = match(meta("l4proto"), protocol);
      this.l4Matches.set(protocol, s);
    }
    return s;
  }

  /** `numgen random mod MOD < BELOW` */
  randomBelow(mod: number, below: number): Statement {
    let byBelow = this.randomBelows.get(mod);
    if (!byBelow) {
      byBelow = [];
      this.randomBelows.set(mod, byBelow);
    }
    byBelow[below] ??= match(numgen("random", mod), below, "<");
    return byBelow[below];
  }

  /** `numgen inc mod MOD == 0` */
  incZero(mod: number): Statement {
    this.incZeros[mod] ??= match(numgen("inc", mod), 0);
    return this.incZeros[mod];
  }
}

/** `dnat ip to ADDR:PORT`, built directly (the builder's option handling costs objects per rule). */
function dnatTo(family: Family, ep: SelectionEndpoint): DnatStmt {
  return { dnat: { family: family === 4 ? "ip" : "ip6", addr: ep.address, port: ep.port } };
}

/**
 * The rule that sends a new connection to one endpoint (and remembers it for affinity), after an
 * optional selector. The statement list is built at its final size: the planner keeps these rules
 * for as long as the service is unchanged, and a list grown by push keeps room for 16 more.
 */
function endpointRule(
  input: SelectionInput,
  pool: StatementPool,
  ep: SelectionEndpoint,
  selector?: Statement,
): DesiredRule {
  const l4 = pool.l4Match(input.protocol);
  const dnat = dnatTo(input.family, ep);
  const aff = input.affinitySets?.get(endpointId(ep));
  if (!aff) return { expr: selector ? [selector, l4, dnat] : [l4, dnat] };
  const update = setUpdate("update", aff, payload(input.family === 4 ? "ip" : "ip6", "saddr"));
  return { expr: selector ? [selector, l4, update, dnat] : [l4, update, dnat] };
}

/** Rules that send a client with a live affinity entry back to its endpoint. */
export function affinityRules(input: SelectionInput, pool: StatementPool): DesiredRule[] {
  if (!input.affinitySets) return [];
  const ip = input.family === 4 ? "ip" : "ip6";
  return input.endpoints.map((ep) => ({
    expr: [
      match(payload(ip, "saddr"), setRef(input.affinitySets!.get(endpointId(ep))!)),
      pool.l4Match(input.protocol),
      dnatTo(input.family, ep),
    ],
  }));
}

/** The slots of the plan that name one of the chain's endpoints, as endpoints (equal weights if none). */
function chainSlots(input: SelectionInput, plan: ResolvedPlan): SelectionEndpoint[] {
  const { endpoints } = input;
  // The common case, the built-in plan: one slot per endpoint, in order.
  if (plan.slots.length === endpoints.length && endpoints.every((e, i) => plan.slots[i] === endpointId(e)))
    return endpoints;
  const byId = new Map(input.endpoints.map((e) => [endpointId(e), e]));
  const slots: SelectionEndpoint[] = [];
  for (const id of plan.slots) {
    const ep = byId.get(id);
    if (ep) slots.push(ep);
  }
  return slots.length > 0 ? slots : input.endpoints;
}

/** The rules that choose an endpoint for a new connection as `plan` says. */
export function selectionRules(
  input: SelectionInput,
  plan: ResolvedPlan,
  pool: StatementPool,
): DesiredRule[] {
  const slots = chainSlots(input, plan);
  const sel = plan.selection;
  const rules: DesiredRule[] = [];
  if (sel.mode === "random" || slots.length === 1) {
    const weights = new Map<SelectionEndpoint, number>();
    for (const ep of slots) weights.set(ep, (weights.get(ep) ?? 0) + 1);
    let remaining = slots.length;
    for (const [ep, weight] of weights) {
      rules.push(
        endpointRule(input, pool, ep, weight < remaining ? pool.randomBelow(remaining, weight) : undefined),
      );
      remaining -= weight;
    }
    return rules.slice();
  }
  if (sel.mode === "round-robin") {
    const n = slots.length;
    // One counter over the whole table gives connection c slot c mod n, as the cascade does.
    if (n > MAX_CASCADE_RUNS && !input.affinitySets)
      return [slotMapRule(input, pool, slots, numgen("inc", n), runsOf(slots))];
    for (let i = 0; i < n; i++)
      rules.push(endpointRule(input, pool, slots[i], i < n - 1 ? pool.incZero(n - i) : undefined));
    return rules.slice();
  }
  const fields = sel.fields.map((f) => hashFieldExpr(f, input.family));
  const key = jhash(fields.length === 1 ? fields[0] : concat(...fields), slots.length, { seed: sel.seed });
  const runs = runsOf(slots);
  if (runs.length > MAX_CASCADE_RUNS && !input.affinitySets)
    return [slotMapRule(input, pool, slots, key, runs)];
  for (let r = 0; r < runs.length; r++) {
    const start = runs[r];
    const end = r + 1 < runs.length ? runs[r + 1] - 1 : slots.length - 1;
    // The last run needs no test: every earlier slot was matched by an earlier rule.
    const test = r + 1 < runs.length ? match(key, start === end ? start : range(start, end)) : undefined;
    rules.push(endpointRule(input, pool, slots[start], test));
  }
  return rules.slice();
}

/** The first slot of each run of consecutive slots naming the same endpoint. */
function runsOf(slots: SelectionEndpoint[]): number[] {
  const runs: number[] = [];
  for (let start = 0; start < slots.length; ) {
    let end = start;
    while (end + 1 < slots.length && slots[end + 1] === slots[start]) end++;
    runs.push(start);
    start = end + 1;
  }
  return runs;
}

/**
 * One rule: `meta l4proto P dnat ip to KEY map { … }`, one element per slot or per run (`runs` holds
 * each run's first slot), whichever gives the kernel fewer elements.
 */
function slotMapRule(
  input: SelectionInput,
  pool: StatementPool,
  slots: SelectionEndpoint[],
  key: Expression,
  runs: number[],
): DesiredRule {
  const targets = new Map<SelectionEndpoint, Expression>();
  const target = (ep: SelectionEndpoint) => {
    let t = targets.get(ep);
    if (!t) {
      t = concat(ep.address, ep.port);
      targets.set(ep, t);
    }
    return t;
  };
  const entries: [Expression, Expression][] = [];
  if (2 * runs.length < slots.length) {
    for (let r = 0; r < runs.length; r++) {
      const start = runs[r];
      const end = r + 1 < runs.length ? runs[r + 1] - 1 : slots.length - 1;
      entries.push([start === end ? start : range(start, end), target(slots[start])]);
    }
  } else for (let s = 0; s < slots.length; s++) entries.push([s, target(slots[s])]);
  const dnat: DnatStmt = {
    dnat: { family: input.family === 4 ? "ip" : "ip6", addr: mapLookup(key, entries.slice()) },
  };
  return { expr: [pool.l4Match(input.protocol), dnat] };
}
