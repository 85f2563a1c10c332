// The peer sets of a PolicyDecision as named nft sets. Every address set becomes, per family, a set
// of single addresses (a plain hash set, present even when empty, so a peer pod coming or going is
// an element operation only) and, when its ipBlocks give CIDRs of that family, a set of CIDRs (an
// interval set). Only the sets some rule refers to are rendered (render.ts): unused sets cost the
// kernel, which looks sets up by name in a list. Single addresses
// stay out of the interval sets because changing the elements of an interval set that holds
// elements is left to `nft -f` by nft/netlink/ (nft merges with what the kernel holds), which costs
// a ruleset dump per sync at 10,000 services; pod addresses, the part that changes with every pod
// and label, stay on the netlink path that way.
//
// Elements are canonical and sorted, so equal contents render equal: a CIDR nested in another one
// of the same set is dropped (an interval set refuses overlaps, and we do not ask the kernel to
// merge, so that the kernel holds exactly what the diff believes it holds).
import { cidr, concat, element, range } from "../../nft/build.ts";
import { commonEnds } from "../../nft/common-ends.ts";
import type { DesiredSet } from "../../nft/desired.ts";
import type { Expression, SetElement } from "../../nft/model.ts";
import { bigIntToIp, canonicalIp, ipFamily, ipToBigInt, parseCidr } from "../net/cidr.ts";
import {
  ADDRESS_FAMILIES,
  type AddressFamily,
  addressPortSetName,
  addressSetName,
  nftComment,
} from "./render-names.ts";
import type { AddressPort } from "./types.ts";

const ADDRESS_TYPE = { 4: "ipv4_addr", 6: "ipv6_addr" } as const;

interface Net {
  base: bigint;
  last: bigint;
  text: string;
}

interface SplitFamily {
  hosts: { value: bigint; text: string }[];
  nets: Net[];
}

function splitAddresses(id: string, entries: string[]): Record<AddressFamily, SplitFamily> {
  const out: Record<AddressFamily, SplitFamily> = { 4: { hosts: [], nets: [] }, 6: { hosts: [], nets: [] } };
  entries.forEach((entry, i) => {
    try {
      if (!entry.includes("/")) {
        const text = canonicalIp(entry);
        out[ipFamily(text)].hosts.push({ value: ipToBigInt(text), text });
        return;
      }
      const c = parseCidr(entry);
      const bits = c.family === 4 ? 32 : 128;
      if (c.prefixLength === bits) {
        const text = c.text.slice(0, c.text.indexOf("/"));
        out[c.family].hosts.push({ value: c.base, text });
      } else out[c.family].nets.push({ base: c.base, last: c.base + c.size - 1n, text: c.text });
    } catch (err) {
      throw new Error(`address set "${id}" [${i}]: ${(err as Error).message}`);
    }
  });
  return out;
}

const byValue = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);

function hostElements(hosts: SplitFamily["hosts"]): SetElement[] {
  const sorted = [...hosts].sort((a, b) => byValue(a.value, b.value));
  const out: SetElement[] = [];
  let previous: bigint | undefined;
  for (const h of sorted) {
    if (h.value === previous) continue;
    previous = h.value;
    out.push(element(h.text));
  }
  return out;
}

/**
 * Sorted by start; nested CIDRs dropped and adjacent ones joined (an ipBlock minus its excepts comes
 * as neighbouring CIDRs), so no two elements touch: the kernel keeps an interval set's elements
 * apart, and nft/netlink/ leaves adjacent intervals to `nft -f`. A joined run that is one CIDR stays
 * a CIDR, otherwise it is a range (nft lists it the same way).
 */
function netElements(nets: Net[], family: AddressFamily): SetElement[] {
  const sorted = [...nets].sort((a, b) => byValue(a.base, b.base) || byValue(b.last, a.last));
  const runs: { first: bigint; last: bigint; text: string }[] = [];
  for (const n of sorted) {
    const run = runs[runs.length - 1];
    if (run && n.base <= run.last + 1n) {
      if (n.last > run.last) {
        run.last = n.last;
        run.text = "";
      }
    } else runs.push({ first: n.base, last: n.last, text: n.text });
  }
  return runs.map((run) =>
    element(
      run.text
        ? cidr(run.text)
        : (prefixOf(run.first, run.last, family) ??
            range(bigIntToIp(run.first, family), bigIntToIp(run.last, family))),
    ),
  );
}

/** The CIDR covering exactly first..last, if there is one. */
function prefixOf(first: bigint, last: bigint, family: AddressFamily): Expression | null {
  const size = last - first + 1n;
  if ((size & (size - 1n)) !== 0n || first % size !== 0n) return null;
  const bits = family === 4 ? 32 : 128;
  return cidr(`${bigIntToIp(first, family)}/${bits - (size.toString(2).length - 1)}`);
}

/** Whether an address set's entries hold a CIDR (not a single address) of `family`. */
export function hasNetworks(entries: readonly string[], family: AddressFamily): boolean {
  const full = family === 4 ? "/32" : "/128";
  return entries.some((e) => e.includes("/") && !e.endsWith(full) && e.includes(":") === (family === 6));
}

/**
 * The named sets of one address set: per family, single addresses (always, even empty: peers come
 * and go with pods and labels) and CIDRs (only when the set has some of that family). The caller
 * keeps only those some rule refers to.
 */
export function addressSets(id: string, entries: string[]): DesiredSet[] {
  const split = splitAddresses(id, entries);
  const comment = nftComment(`policy peers: ${id}`);
  const sets: DesiredSet[] = [];
  for (const family of ADDRESS_FAMILIES) {
    const type = ADDRESS_TYPE[family];
    sets.push({
      name: addressSetName(id, family, "h"),
      type,
      comment,
      elements: hostElements(split[family].hosts),
    });
    if (split[family].nets.length === 0) continue;
    sets.push({
      name: addressSetName(id, family, "n"),
      type,
      flags: ["interval"],
      comment,
      elements: netElements(split[family].nets, family),
    });
  }
  return sets;
}

const PROTOCOLS = { TCP: "tcp", UDP: "udp", SCTP: "sctp" } as const;

export function nftProtocol(protocol: string, where: string): "tcp" | "udp" | "sctp" {
  const p = PROTOCOLS[protocol as keyof typeof PROTOCOLS];
  if (!p) throw new Error(`${where}.protocol: "${protocol}" is not TCP, UDP or SCTP`);
  return p;
}

export function checkPort(port: number, where: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`${where}: ${JSON.stringify(port)} is not a port (1..65535)`);
}

/** The IPv4 and IPv6 `address . protocol . port` sets of one address-port set. */
export function addressPortSets(id: string, entries: AddressPort[]): DesiredSet[] {
  const keyed: Record<AddressFamily, { sort: [bigint, string, number]; el: SetElement; text: string }[]> = {
    4: [],
    6: [],
  };
  entries.forEach((e, i) => {
    const where = `address-port set "${id}" [${i}]`;
    let address: string;
    try {
      address = canonicalIp(e.address);
    } catch (err) {
      throw new Error(`${where}.address: ${(err as Error).message}`);
    }
    const proto = nftProtocol(e.protocol, where);
    checkPort(e.port, `${where}.port`);
    keyed[ipFamily(address)].push({
      sort: [ipToBigInt(address), proto, e.port],
      el: element(concat(address, proto, e.port)),
      text: `${address} ${proto} ${e.port}`,
    });
  });
  const comment = nftComment(`policy address ports: ${id}`);
  return ADDRESS_FAMILIES.map((family) => {
    const sorted = keyed[family].sort(
      (a, b) =>
        byValue(a.sort[0], b.sort[0]) ||
        (a.sort[1] < b.sort[1] ? -1 : a.sort[1] > b.sort[1] ? 1 : 0) ||
        a.sort[2] - b.sort[2],
    );
    const seen = new Set<string>();
    const elements = sorted.filter((k) => !seen.has(k.text) && seen.add(k.text)).map((k) => k.el);
    return {
      name: addressPortSetName(id, family),
      type: [ADDRESS_TYPE[family], "inet_proto", "inet_service"],
      comment,
      elements,
    };
  });
}

const elementKey = (el: SetElement) =>
  el.value === undefined ? JSON.stringify(el.key) : `${JSON.stringify(el.key)} : ${JSON.stringify(el.value)}`;

/**
 * `fresh` with the element objects of `previous` wherever an element is the same, or `previous`
 * itself when nothing differs: nft/'s diff skips unchanged objects by identity and caches texts
 * per object, so a sync then costs what changed, not the size of the set.
 */
export function reuseElements(fresh: DesiredSet, previous: DesiredSet | undefined): DesiredSet {
  if (!previous || previous.name !== fresh.name) return fresh;
  const known = new Map(previous.elements.map((el) => [elementKey(el), el]));
  const elements = fresh.elements.map((el) => known.get(elementKey(el)) ?? el);
  const same =
    elements.length === previous.elements.length &&
    elements.every((el, i) => el === previous.elements[i]) &&
    JSON.stringify({ ...fresh, elements: [] }) === JSON.stringify({ ...previous, elements: [] });
  return same ? previous : { ...fresh, elements };
}

/** Index of the first element of sorted host `elements` whose address is ≥ `value`. */
function hostIndex(elements: SetElement[], value: bigint): number {
  let lo = 0;
  let hi = elements.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ipToBigInt(elements[mid].key as string) < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The entries `after` adds to and removes from `before`. A pod coming or going changes one place of
 * a sorted list: equal leading and trailing entries are skipped before the rest is compared as sets.
 */
function changedEntries(
  before: readonly string[],
  after: readonly string[],
): { added: string[]; removed: string[] } {
  const { start, endBefore, endAfter } = commonEnds(before, after);
  const was = before.slice(start, endBefore);
  const is = after.slice(start, endAfter);
  const had = new Set(was);
  const has = new Set(is);
  // The skipped entries are in both: one listed twice may leave the middle and stay.
  const skipped = (e: string) => {
    for (let i = 0; i < start; i++) if (before[i] === e) return true;
    for (let i = endBefore; i < before.length; i++) if (before[i] === e) return true;
    return false;
  };
  const removed = was.filter((e) => !has.has(e) && !skipped(e));
  return { added: is.filter((e) => !had.has(e)), removed };
}

/**
 * The named sets of an address set whose entries changed by single addresses only (a peer pod came,
 * went or moved), made from the previous sets by inserting and removing those hosts: the same as
 * `addressSets(id, after)`, at the cost of the change instead of the set's size. Null when the
 * change touches a CIDR or an address not written canonically; render anew then.
 */
export function patchAddressSets(
  id: string,
  before: readonly string[],
  after: readonly string[],
  previous: DesiredSet[],
): DesiredSet[] | null {
  const { added, removed } = changedEntries(before, after);
  const changes = [...removed.map((e) => ({ e, add: false })), ...added.map((e) => ({ e, add: true }))];
  const names: Partial<Record<AddressFamily, string>> = {};
  const byName = new Map(previous.map((s) => [s.name, s]));
  const patched = new Map<string, SetElement[]>();
  for (const { e, add } of changes) {
    if (e.includes("/") || canonicalIp(e) !== e) return null;
    const family = ipFamily(e);
    names[family] ??= addressSetName(id, family, "h");
    const name = names[family];
    const set = byName.get(name);
    if (!set) return null;
    const elements = patched.get(name) ?? [...set.elements];
    patched.set(name, elements);
    const value = ipToBigInt(e);
    const at = hostIndex(elements, value);
    const present = at < elements.length && elements[at].key === e;
    if (add && !present) elements.splice(at, 0, element(e));
    if (!add && present) elements.splice(at, 1);
  }
  return previous.map((s) => {
    const elements = patched.get(s.name);
    return elements ? { ...s, elements } : s;
  });
}
