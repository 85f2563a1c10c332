// What one policy render keeps for the next (runtime/policy/render.ts): per peer set and per pod,
// the decision object it was rendered from and what it rendered to, and per nft name who claimed
// it and how many pod chains look a set up. A render given the previous result reuses what did not
// change and updates the table fragment by what did (render-assemble.ts). Read-only once made: a
// render that throws leaves the previous memo as it was.
import type { DesiredSet } from "../../nft/desired.ts";
import type { PodChains } from "./render-chains.ts";
import type { AddressPort, PodDirectionPolicy, PolicyDecision } from "./types.ts";

export interface RenderedSet<E> {
  /** A copy of the entries, compared by content next time. */
  entries: E[];
  /** The decision's own array: the same array next time means the same entries (decisions are read-only). */
  source: E[];
  sets: DesiredSet[];
  /** Address sets: the families it holds CIDRs of, once asked (networkShape). */
  families?: string;
}

export interface RenderedPod {
  /** The decision's object it was rendered from: the same object next time is the same policy. */
  source: PodDirectionPolicy;
  /** Which referenced sets hold CIDRs (networkShape). */
  shape: string;
  /** The pod's policy as JSON, compared when the object is another one. */
  policy: string;
  rendered: PodChains;
  /** The sets the pod's chains look up ("@name"). */
  sets: Set<string>;
  /** The address set ids its rules name (what `shape` depends on). */
  peerIds: string[];
  /** The address-port set ids its rules name. */
  portIds: string[];
}

/** What claimed an nft name: a pod's chain, or one of a peer set's named sets. */
export interface Owner {
  kind: "pod" | "address set" | "address-port set";
  /** The pod key ("namespace/name" and direction, NUL-separated) or the set id. */
  key: string;
}

export interface RenderMemo {
  readonly addressSets: ReadonlyMap<string, RenderedSet<string>>;
  readonly addressPortSets: ReadonlyMap<string, RenderedSet<AddressPort>>;
  /** The decision's pods array these were rendered from. */
  readonly podsSource: PolicyDecision["pods"];
  /** By "pod\0direction". */
  readonly pods: ReadonlyMap<string, RenderedPod>;
  /** Every chain and peer set name, with what claimed it (two owners of one name is an error). */
  readonly owners: ReadonlyMap<string, Owner>;
  /** Per peer set name, how many pods' chains look it up; only sets with uses are in the table. */
  readonly uses: ReadonlyMap<string, number>;
}
