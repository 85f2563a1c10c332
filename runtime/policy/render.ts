// A PolicyDecision as nftables rules in the shared `inet wasmplane` table: decision in, one
// TableFragment plus the rules of the node's two policy hook chains (runtime/cni/node-rules.ts,
// `pod-egress-hook` and `pod-ingress-hook`, jumped to from pod-forward and, for egress, pod-input).
//
//   hook chain         ct state established,related return; then the pod's address (saddr for
//                      egress, daddr for ingress) in verdict map pol-eg4/6 or pol-in4/6 → goto
//                      the pod's chain; a pod not in the map is not policed (falls through)
//   pol-i-H / pol-e-H  per pod and direction, the tiers in order (render-chains.ts)
//   pol-a…, pol-p…     the peer sets (render-sets.ts)
//
// "return" is the allow verdict, never accept: the forward chain judges the source's egress first
// and then the destination's ingress, and an egress allow must reach the ingress hook. A goto from
// the hook means a return in the pod's chain goes straight back to the base chain. The node's own
// traffic to its pods (kubelet probes) leaves through the output hook, so no pod's ingress judges it;
// its replies are established.
//
// Peers are named sets, so a pod relabelled or added somewhere in the cluster changes set elements
// only, never a chain or a verdict-map element: a plain element batch does not make the kernel
// revalidate the table's jump graph (docs/nft.md).
//
// The output is a function of the decision alone. Passing the previous result lets the renderer
// hand back the very same chain, set and element objects for whatever did not change, which makes
// nft/'s diff (identity first, texts cached per object) cost what changed.
import { element, goto, namedMap } from "../../nft/build.ts";
import {
  addChain,
  addSet,
  type DesiredRule,
  type DesiredSet,
  emptyFragment,
  type TableFragment,
} from "../../nft/desired.ts";
import { type References, rulesRefs } from "../../nft/references.ts";
import { ipToBigInt } from "../net/cidr.ts";
import { checkReferences, hookRules, type PodChains, renderPodChains } from "./render-chains.ts";
import { type AddressFamily, dispatchMapName } from "./render-names.ts";
import { addressPortSets, addressSets, hasNetworks, patchAddressSets, reuseElements } from "./render-sets.ts";
import type { AddressPort, PodDirectionPolicy, PolicyDecision, PolicyDirection } from "./types.ts";

export interface RenderedPolicy {
  /** The `pol-` chains, sets and dispatch maps. */
  fragment: TableFragment;
  /** Rules for planNodeRules' `hooks` input (the bodies of pod-egress-hook and pod-ingress-hook). */
  hooks: { egress: DesiredRule[]; ingress: DesiredRule[] };
  /** What the next call may reuse (pass this whole result as `previous`); not part of the output. */
  memo: RenderMemo;
}

interface RenderedSet<E> {
  /** A copy of the entries, compared by content next time. */
  entries: E[];
  /** The decision's own array: the same array next time means the same entries (decisions are read-only). */
  source: E[];
  sets: DesiredSet[];
  /** Address sets: the families it holds CIDRs of, once asked (networkShape). */
  families?: string;
}

export interface RenderMemo {
  readonly addressSets: ReadonlyMap<string, RenderedSet<string>>;
  readonly addressPortSets: ReadonlyMap<string, RenderedSet<AddressPort>>;
  /** The decision's pods array these were rendered from. */
  readonly podsSource: PolicyDecision["pods"];
  /** By "pod\0direction": the pod's policy as JSON, and what it rendered to. */
  readonly pods: ReadonlyMap<string, RenderedPod>;
}

const FAMILIES: AddressFamily[] = [4, 6];
const ADDRESS_TYPE = { 4: "ipv4_addr", 6: "ipv6_addr" } as const;

/** Claims an nft name for one source object; two sources hashing to one name is an error naming both. */
function claim(owners: Map<string, string>, name: string, owner: string): void {
  const previous = owners.get(name);
  if (previous !== undefined && previous !== owner)
    throw new Error(`policy render: ${owner} and ${previous} both map to the nft name ${name}`);
  owners.set(name, owner);
}

const sameAddress = (a: string, b: string) => a === b;
const sameAddressPort = (a: AddressPort, b: AddressPort) =>
  a.address === b.address && a.protocol === b.protocol && a.port === b.port;

function sameEntries<E>(a: E[], b: E[], same: (x: E, y: E) => boolean): boolean {
  return a.length === b.length && a.every((x, i) => same(x, b[i]));
}

/**
 * Renders (or reuses) the named sets of every set id, sorted by id. `changed` receives the ids whose
 * entries differ from the previous ones.
 */
function peerSets<E>(
  ids: Map<string, E[]>,
  previous: ReadonlyMap<string, RenderedSet<E>> | undefined,
  render: (id: string, entries: E[]) => DesiredSet[],
  same: (x: E, y: E) => boolean,
  changed: Map<string, { before: E[] | undefined; after: E[] }>,
  patch?: (id: string, before: E[], after: E[], previous: DesiredSet[]) => DesiredSet[] | null,
): Map<string, RenderedSet<E>> {
  const out = new Map<string, RenderedSet<E>>();
  const sorted = [...ids.keys()];
  if (!isSorted(sorted)) sorted.sort();
  for (const id of sorted) {
    const entries = ids.get(id)!;
    const before = previous?.get(id);
    if (before && (before.source === entries || sameEntries(before.entries, entries, same))) {
      out.set(id, before.source === entries ? before : { ...before, source: entries });
      continue;
    }
    changed.set(id, { before: before?.entries, after: entries });
    const sets =
      (before && patch?.(id, before.entries, entries, before.sets)) ??
      render(id, entries).map((s, i) => reuseElements(s, before?.sets[i]));
    out.set(id, { entries: [...entries], source: entries, sets });
  }
  return out;
}

function isSorted(ids: string[]): boolean {
  for (let i = 1; i < ids.length; i++) if (ids[i - 1] >= ids[i]) return false;
  return true;
}

interface RenderedPod {
  /** The decision's object it was rendered from: the same object next time is the same policy. */
  source: PodDirectionPolicy;
  /** Which referenced sets hold CIDRs (networkShape). */
  shape: string;
  /** The pod's policy as JSON, compared when the object is another one. */
  policy: string;
  rendered: PodChains;
  /** The sets the pod's chains look up ("@name"). */
  sets: Set<string>;
}

function renderedPod(
  p: PodDirectionPolicy,
  shape: string,
  policy: string,
  decision: PolicyDecision,
): RenderedPod {
  const rendered = renderPodChains(p, decision);
  const used: References = { sets: new Set() };
  for (const chain of rendered.chains) rulesRefs(chain.rules, used);
  return { source: p, shape, policy, rendered, sets: used.sets ?? new Set() };
}

function renderPods(
  decision: PolicyDecision,
  previous: RenderMemo["pods"] | undefined,
  sets: ReadonlyMap<string, RenderedSet<string>>,
): Map<string, RenderedPod> {
  const out = new Map<string, RenderedPod>();
  const keyed = decision.pods.map((p) => ({ p, key: `${p.pod}\u0000${p.direction}` }));
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const { p, key } of keyed) {
    if (out.has(key)) throw new Error(`policy of pod ${p.pod} ${p.direction}: listed twice in the decision`);
    // The rules also depend on which referenced sets hold CIDRs (render-chains.ts peerConditions).
    const shape = networkShape(p, sets);
    const before = previous?.get(key);
    if (before?.source === p && before.shape === shape) {
      checkReferences(p, decision);
      out.set(key, before);
      continue;
    }
    const policy = JSON.stringify(p);
    if (before && before.policy === policy && before.shape === shape) {
      checkReferences(p, decision);
      out.set(key, { ...before, source: p });
    } else out.set(key, renderedPod(p, shape, policy, decision));
  }
  return out;
}

/** Which of the pod's peer sets hold CIDRs per family, e.g. "np x/a ingress 0:4" (IPv4 only). */
function networkShape(
  p: PolicyDecision["pods"][number],
  sets: ReadonlyMap<string, RenderedSet<string>>,
): string {
  const ids = [...new Set(p.rules.flatMap((r) => (r.peers === undefined ? [] : [r.peers])))];
  return ids.map((id) => `${id}:${familiesWithNetworks(sets.get(id))}`).join("\u0000");
}

/** The families a rendered set holds CIDRs of ("4", "46", …), worked out once per rendered set. */
function familiesWithNetworks(set: RenderedSet<string> | undefined): string {
  if (!set) return "";
  set.families ??= FAMILIES.filter((f) => hasNetworks(set.entries, f)).join("");
  return set.families;
}

/** The four dispatch maps: pod address → goto the pod's chain. Two pods on one address is an error. */
function dispatchMaps(pods: RenderMemo["pods"], previous: TableFragment | undefined): DesiredSet[] {
  const maps: DesiredSet[] = [];
  for (const direction of ["ingress", "egress"] as PolicyDirection[])
    for (const family of FAMILIES) {
      const entries: { value: bigint; address: string; pod: string; chain: string }[] = [];
      for (const [key, { rendered }] of pods) {
        const [pod, dir] = key.split("\u0000");
        if (dir !== direction) continue;
        for (const address of rendered.own[family])
          entries.push({ value: ipToBigInt(address), address, pod, chain: rendered.chains[0].name });
      }
      entries.sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
      for (let i = 1; i < entries.length; i++)
        if (entries[i].value === entries[i - 1].value)
          throw new Error(
            `policy render: pods ${entries[i - 1].pod} and ${entries[i].pod} share the address ${entries[i].address} (${direction})`,
          );
      const name = dispatchMapName(direction, family);
      const fresh = namedMap(
        name,
        ADDRESS_TYPE[family],
        "verdict",
        entries.map((e) => element(e.address, goto(e.chain))),
        { comment: `pod IPv${family} address : its ${direction} policy chain` },
      );
      maps.push(reuseElements(fresh, previous?.sets.get(name)));
    }
  return maps;
}

/**
 * Renders a decision; `previous` (the last result) only makes unchanged objects identical to the
 * last ones. Throws on an inconsistent decision, naming the pod, rule and field.
 */
export function renderPolicy(decision: PolicyDecision, previous?: RenderedPolicy): RenderedPolicy {
  const changed = new Map<string, { before: string[] | undefined; after: string[] }>();
  const changedPorts = new Map<string, { before: AddressPort[] | undefined; after: AddressPort[] }>();
  const addressMemo = peerSets(
    decision.addressSets,
    previous?.memo.addressSets,
    addressSets,
    sameAddress,
    changed,
    patchAddressSets,
  );
  const portMemo = peerSets(
    decision.addressPortSets,
    previous?.memo.addressPortSets,
    addressPortSets,
    sameAddressPort,
    changedPorts,
  );
  // The same pods array, the same set ids, and no set gaining or losing CIDRs of a family: every
  // pod's chains stand, and only the changed sets' contents are new.
  const stands =
    previous !== undefined &&
    previous.memo.podsSource === decision.pods &&
    addressMemo.size === previous.memo.addressSets.size &&
    portMemo.size === previous.memo.addressPortSets.size &&
    [...changedPorts.values()].every(({ before }) => before !== undefined) &&
    [...changed.values()].every(
      ({ before, after }) =>
        before !== undefined && FAMILIES.every((f) => hasNetworks(before, f) === hasNetworks(after, f)),
    );
  if (stands) {
    const memo: RenderMemo = { ...previous.memo, addressSets: addressMemo, addressPortSets: portMemo };
    const sets = [
      ...[...changed.keys()].flatMap((id) => addressMemo.get(id)!.sets),
      ...[...changedPorts.keys()].flatMap((id) => portMemo.get(id)!.sets),
    ];
    return { fragment: withSetsReplaced(previous.fragment, sets), hooks: previous.hooks, memo };
  }
  const memo: RenderMemo = {
    addressSets: addressMemo,
    addressPortSets: portMemo,
    podsSource: decision.pods,
    pods: renderPods(decision, previous?.memo.pods, addressMemo),
  };
  const fragment = assemble(memo, previous?.fragment);
  const hooks = previous?.hooks ?? { egress: hookRules("egress"), ingress: hookRules("ingress") };
  return { fragment, hooks, memo };
}

/** The previous fragment with these sets in place of their namesakes (sets no rule uses stay out). */
function withSetsReplaced(previous: TableFragment, changed: DesiredSet[]): TableFragment {
  const sets = new Map(previous.sets);
  for (const set of changed) if (sets.has(set.name)) sets.set(set.name, set);
  return { chains: previous.chains, sets };
}

/** The fragment of rendered pods and sets: chains, the sets some rule uses, the dispatch maps. */
function assemble(memo: RenderMemo, previous: TableFragment | undefined): TableFragment {
  const fragment = emptyFragment();
  const owners = new Map<string, string>();
  const peers = [
    ...[...memo.addressSets].map(([id, m]) => [`address set "${id}"`, m.sets] as const),
    ...[...memo.addressPortSets].map(([id, m]) => [`address-port set "${id}"`, m.sets] as const),
  ];
  const used = new Set<string>();
  for (const [key, { rendered, sets }] of memo.pods) {
    for (const chain of rendered.chains) {
      claim(owners, chain.name, `pod ${key.replace("\u0000", " ")}`);
      addChain(fragment, chain);
    }
    for (const name of sets) used.add(name);
  }
  // Only sets a rule refers to: IPv6 sets of IPv4-only pods and sets of rules no pod has cost the
  // kernel (it finds sets by name in a list) and change nothing.
  for (const [owner, sets] of peers)
    for (const set of sets) {
      claim(owners, set.name, owner);
      if (used.has(`@${set.name}`)) addSet(fragment, set);
    }
  for (const map of dispatchMaps(memo.pods, previous)) addSet(fragment, map);
  return fragment;
}
