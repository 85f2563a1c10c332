// The policy table fragment from rendered pods and peer sets (runtime/policy/render.ts): every pod's
// chains, the named sets some pod chain looks up, and the four dispatch maps. `assemble` builds it
// whole; `reassemble` makes it from the previous fragment by what changed (pods whose chains are
// new objects, sets whose contents changed, came or went), so a one-pod change costs that pod and
// its sets, not the table. Both claim every chain and set name for one owner: two pods or set ids
// hashing to one nft name is an error naming both (render-names.ts).
import { element, goto, namedMap } from "../../nft/build.ts";
import type { DesiredChain, DesiredSet, TableFragment } from "../../nft/desired.ts";
import { ipToBigInt } from "../net/cidr.ts";
import { sameEntries, sameText } from "./list-compare.ts";
import type { Owner, RenderedPod, RenderedSet, RenderMemo } from "./render-memo.ts";
import { ADDRESS_FAMILIES, dispatchMapName } from "./render-names.ts";
import type { PodChainChange } from "./render-pods.ts";
import { reuseElements } from "./render-sets.ts";
import type { AddressPort, PolicyDirection } from "./types.ts";

const ADDRESS_TYPE = { 4: "ipv4_addr", 6: "ipv6_addr" } as const;

/** What a fragment is assembled from. */
export interface Parts {
  pods: ReadonlyMap<string, RenderedPod>;
  addressSets: ReadonlyMap<string, RenderedSet<string>>;
  addressPortSets: ReadonlyMap<string, RenderedSet<AddressPort>>;
}

export interface Assembled {
  fragment: TableFragment;
  owners: ReadonlyMap<string, Owner>;
  uses: ReadonlyMap<string, number>;
}

/** The peer set ids whose rendered sets changed, came or went since the previous render. */
export interface SetChanges {
  address: Iterable<string>;
  addressPort: Iterable<string>;
}

const ownerText = (o: Owner) =>
  o.kind === "pod" ? `pod ${o.key.replace("\u0000", " ")}` : `${o.kind} "${o.key}"`;

/** Claims an nft name for one owner; two owners of one name is an error naming both. */
function claim(owners: Map<string, Owner>, name: string, owner: Owner): void {
  const previous = owners.get(name);
  if (previous !== undefined && (previous.kind !== owner.kind || previous.key !== owner.key))
    throw new Error(
      `policy render: ${ownerText(owner)} and ${ownerText(previous)} both map to the nft name ${name}`,
    );
  owners.set(name, owner);
}

/** The four dispatch maps: pod address → goto the pod's chain. Two pods on one address is an error. */
function dispatchMaps(pods: Parts["pods"], previous: TableFragment | undefined): DesiredSet[] {
  const maps: DesiredSet[] = [];
  for (const direction of ["ingress", "egress"] as PolicyDirection[])
    for (const family of ADDRESS_FAMILIES) {
      const entries: { value: bigint; address: string; pod: string; chain: string }[] = [];
      for (const { source, rendered } of pods.values()) {
        if (source.direction !== direction) continue;
        for (const address of rendered.own[family])
          entries.push({
            value: ipToBigInt(address),
            address,
            pod: source.pod,
            chain: rendered.chains[0].name,
          });
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

/** Adds (delta 1) or takes away (-1) a pod's uses of the sets its chains look up. */
function countUses(uses: Map<string, number>, pod: RenderedPod, delta: number): void {
  for (const ref of pod.sets) {
    const name = ref.slice(1);
    const n = (uses.get(name) ?? 0) + delta;
    if (n === 0) uses.delete(name);
    else uses.set(name, n);
  }
}

/** The fragment of rendered pods and sets: chains, the sets some rule uses, the dispatch maps. */
export function assemble(parts: Parts): Assembled {
  const fragment: TableFragment = { chains: new Map(), sets: new Map() };
  const owners = new Map<string, Owner>();
  const uses = new Map<string, number>();
  for (const [key, pod] of parts.pods) {
    const owner: Owner = { kind: "pod", key };
    for (const chain of pod.rendered.chains) {
      claim(owners, chain.name, owner);
      fragment.chains.set(chain.name, chain);
    }
    countUses(uses, pod, 1);
  }
  // Only sets a rule refers to: IPv6 sets of IPv4-only pods and sets of rules no pod has cost the
  // kernel (it finds sets by name in a list) and change nothing.
  const addSets = (kind: Owner["kind"], sets: ReadonlyMap<string, RenderedSet<unknown>>) => {
    for (const [id, rendered] of sets) {
      const owner: Owner = { kind, key: id };
      for (const set of rendered.sets) {
        claim(owners, set.name, owner);
        if (uses.has(set.name)) fragment.sets.set(set.name, set);
      }
    }
  };
  addSets("address set", parts.addressSets);
  addSets("address-port set", parts.addressPortSets);
  for (const map of dispatchMaps(parts.pods, undefined)) fragment.sets.set(map.name, map);
  return { fragment, owners, uses };
}

/** Whether two renders of a pod dispatch the same way: the same chain for the same addresses. */
function sameDispatch(a: RenderedPod, b: RenderedPod): boolean {
  return (
    a.source.direction === b.source.direction &&
    a.rendered.chains[0].name === b.rendered.chains[0].name &&
    ADDRESS_FAMILIES.every((f) => sameEntries(a.rendered.own[f], b.rendered.own[f], sameText))
  );
}

/** The named sets one set id renders to now, by kind. */
function renderedSets(parts: Parts, owner: Owner): DesiredSet[] {
  const sets = owner.kind === "address set" ? parts.addressSets : parts.addressPortSets;
  return sets.get(owner.key)?.sets ?? [];
}

/**
 * The fragment of `parts` made from the previous render's by the changes: the same as
 * `assemble(parts)` up to the order of map entries. Maps nothing changed in are handed back as
 * they were (nft/diff.ts skips them by identity).
 */
export function reassemble(
  previous: { fragment: TableFragment; memo: RenderMemo },
  parts: Parts,
  pods: PodChainChange[],
  sets: SetChanges,
): Assembled {
  const memo = previous.memo;
  let chains: Map<string, DesiredChain> | undefined;
  let owners: Map<string, Owner> | undefined;
  let uses: Map<string, number> | undefined;
  /** Set names whose presence in the fragment may have changed. */
  const touched = new Set<string>();
  const claims: { name: string; owner: Owner }[] = [];
  const released: string[] = [];
  // A name its owner already holds needs no claim: owners change only when pods or set ids come or go.
  const claimLater = (name: string, owner: Owner) => {
    const held = memo.owners.get(name);
    if (held?.kind !== owner.kind || held.key !== owner.key) claims.push({ name, owner });
  };

  for (const { key, before, after } of pods) {
    chains ??= new Map(previous.fragment.chains);
    uses ??= new Map(memo.uses);
    const keep = new Set(after?.rendered.chains.map((c) => c.name));
    if (before) {
      for (const chain of before.rendered.chains)
        if (!keep.has(chain.name)) {
          chains.delete(chain.name);
          released.push(chain.name);
        }
      countUses(uses, before, -1);
      for (const ref of before.sets) touched.add(ref.slice(1));
    }
    if (after) {
      for (const chain of after.rendered.chains) claimLater(chain.name, { kind: "pod", key });
      countUses(uses, after, 1);
      for (const ref of after.sets) touched.add(ref.slice(1));
    }
  }
  const setChanges = (kind: Owner["kind"], ids: Iterable<string>) => {
    const was = kind === "address set" ? memo.addressSets : memo.addressPortSets;
    for (const id of ids) {
      const owner: Owner = { kind, key: id };
      const now = renderedSets(parts, owner);
      for (const set of was.get(id)?.sets ?? [])
        if (!now.some((s) => s.name === set.name)) {
          released.push(set.name);
          touched.add(set.name);
        }
      for (const set of now) {
        claimLater(set.name, owner);
        touched.add(set.name);
      }
    }
  };
  setChanges("address set", sets.address);
  setChanges("address-port set", sets.addressPort);

  if (released.length > 0 || claims.length > 0) {
    owners = new Map(memo.owners);
    for (const name of released) owners.delete(name);
    for (const { name, owner } of claims) claim(owners, name, owner);
  }
  if (chains)
    for (const { after } of pods)
      for (const chain of after?.rendered.chains ?? []) chains.set(chain.name, chain);

  const dispatch = pods.some((c) => !c.before || !c.after || !sameDispatch(c.before, c.after));
  let fragmentSets: Map<string, DesiredSet> | undefined;
  if (touched.size > 0 || dispatch) {
    fragmentSets = new Map(previous.fragment.sets);
    const ownersNow = owners ?? memo.owners;
    const usesNow = uses ?? memo.uses;
    for (const name of touched) {
      const owner = ownersNow.get(name);
      const set =
        owner && owner.kind !== "pod" ? renderedSets(parts, owner).find((s) => s.name === name) : undefined;
      if (set && usesNow.has(name)) fragmentSets.set(name, set);
      else fragmentSets.delete(name);
    }
    if (dispatch)
      for (const map of dispatchMaps(parts.pods, previous.fragment)) fragmentSets.set(map.name, map);
  }
  return {
    fragment: { chains: chains ?? previous.fragment.chains, sets: fragmentSets ?? previous.fragment.sets },
    owners: owners ?? memo.owners,
    uses: uses ?? memo.uses,
  };
}
