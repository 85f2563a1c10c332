// The `policy` kind's bytes in ABI v1 (docs/plugin-abi.md, "policy"): the world (namespaces, pods,
// NetworkPolicies, ClusterNetworkPolicies) and the local pods to decide for → bytes; bytes →
// PolicyDecision, with every index, code, range and set reference checked before anything is used.
// Strings cross once, in a table at the front; everything else names them by index, so a plugin
// compares labels as integers and never parses text.
import type { PolicyDecision } from "../policy/types.ts";
import type { Snapshot } from "../store/objects.ts";
import { type ByteReader, type ByteWriter, readOutputHeader } from "./envelope.ts";
import { readPolicyAnswers } from "./policy-decode.ts";
import { type EncodedWorld, writePolicyWorld } from "./policy-encode.ts";

export const POLICY_KIND_CODE = 3;
export const POLICY_OP_DECIDE = 0;
/** Op 1: per asked pod, the sets of the full decision whose pod peers pick it. */
export const POLICY_OP_MEMBERSHIPS = 1;

/** A pod's memberships: ids of address sets and address-port sets (of the full decision). */
export interface PodMemberships {
  addressSets: string[];
  addressPortSets: string[];
}

export { type EncodedWorld, writePolicyWorld } from "./policy-encode.ts";

/**
 * Appends the request body (world, then one u32 pod index per local pod) to `w` and returns what
 * decoding the answer needs. Throws, naming the object, when something cannot be encoded.
 */
export function encodePolicyRequest(
  w: ByteWriter,
  snapshot: Snapshot,
  nodeName: string,
  localPods: readonly string[],
): EncodedWorld {
  const world = writePolicyWorld(w, snapshot, nodeName);
  const seen = new Set<string>();
  for (const key of localPods) {
    const index = world.podIndex.get(key);
    if (index === undefined) throw new Error(`pod ${key}: not in the snapshot`);
    if (seen.has(key)) throw new Error(`pod ${key}: asked about twice`);
    seen.add(key);
    w.u32(index);
  }
  world.requested = [...localPods];
  return world;
}

/**
 * Decodes and validates an output envelope for a request encoded by `encodePolicyRequest`. A plugin's
 * batch error comes back as `{ batchError }`; anything invalid throws an error naming what is wrong.
 */
export function decodePolicyOutput(
  output: Uint8Array,
  world: EncodedWorld,
): PolicyDecision | { batchError: string } {
  const header = readOutputHeader(output, world.requested.length);
  if (!header.ok) return { batchError: header.error };
  const r = header.reader;
  const decision = readPolicyAnswers(r, world);
  if (r.pos !== output.length) throw new Error(`${output.length - r.pos} bytes left after the last section`);
  return decision;
}

function readIds(r: ByteReader, where: string): string[] {
  const count = r.u16(`${where} count`);
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = r.str(`${where} ${i}`);
    if (id === "") throw new Error(`${where} ${i}: empty id`);
    if (!ids.includes(id)) ids.push(id);
  }
  return ids.sort();
}

/** Decodes an op-1 answer: per asked pod (by key), its memberships; anything invalid throws. */
export function decodePolicyMemberships(
  output: Uint8Array,
  world: EncodedWorld,
): Map<string, PodMemberships> | { batchError: string } {
  const header = readOutputHeader(output, world.requested.length);
  if (!header.ok) return { batchError: header.error };
  const r = header.reader;
  const out = new Map<string, PodMemberships>();
  for (const pod of world.requested) {
    const addressSets = readIds(r, `memberships of ${pod}: address set`);
    const addressPortSets = readIds(r, `memberships of ${pod}: address-port set`);
    out.set(pod, { addressSets, addressPortSets });
  }
  if (r.pos !== output.length) throw new Error(`${output.length - r.pos} bytes left after the last pod`);
  return out;
}
