// Names of everything the policy renderer puts in the shared `inet wasmplane` table. All start with
// `pol-` (the node rules use `pod-`, the service planner `services-` and `svc-`), so nothing collides.
//
//   pol-in4, pol-in6      verdict maps: pod address → goto its ingress chain (keyed by daddr)
//   pol-eg4, pol-eg6      verdict maps: pod address → goto its egress chain (keyed by saddr)
//   pol-i-H, pol-e-H      a pod's ingress / egress chain (H: hash of "namespace/name")
//   pol-i-H-np            the networkpolicy and baseline part, when an admin rule passes to it
//   pol-a4h-H, pol-a6h-H  single addresses of address set H (hash of its id): plain hash sets
//   pol-a4n-H, pol-a6n-H  CIDRs of address set H: interval sets
//   pol-p4-H, pol-p6-H    address . protocol . port set H
//
// Ids and pod keys are hashed because they hold characters nft names cannot ("np default/web
// ingress 0 peers") and can be long; a hash is stable across syncs and short. 64 bits of SHA-256
// make a collision between two of a node's objects practically impossible; the renderer still
// checks and names both objects if it ever happens.
import { createHash } from "node:crypto";
import type { PolicyDirection } from "./types.ts";

export type AddressFamily = 4 | 6;

/** Both address families, IPv4 first: the order the renderer emits per-family chains, sets and maps. */
export const ADDRESS_FAMILIES: readonly AddressFamily[] = [4, 6];

export const POLICY_MAPS = {
  ingress4: "pol-in4",
  ingress6: "pol-in6",
  egress4: "pol-eg4",
  egress6: "pol-eg6",
} as const;

/** The dispatch verdict map of one direction and family. */
export function dispatchMapName(direction: PolicyDirection, family: AddressFamily): string {
  if (direction === "ingress") return family === 4 ? POLICY_MAPS.ingress4 : POLICY_MAPS.ingress6;
  return family === 4 ? POLICY_MAPS.egress4 : POLICY_MAPS.egress6;
}

/** 16 hex digits of SHA-256: short, stable, safe in nft names. */
export function shortHash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

export function podChainName(direction: PolicyDirection, pod: string): string {
  return `pol-${direction === "ingress" ? "i" : "e"}-${shortHash(pod)}`;
}

/** The chain an admin-tier "pass" jumps to: the pod's networkpolicy and baseline tiers. */
export function podPassChainName(direction: PolicyDirection, pod: string): string {
  return `${podChainName(direction, pod)}-np`;
}

/** Single addresses ("h", a hash set) or CIDRs ("n", an interval set) of one address set. */
export function addressSetName(id: string, family: AddressFamily, part: "h" | "n"): string {
  return `pol-a${family}${part}-${shortHash(id)}`;
}

export function addressPortSetName(id: string, family: AddressFamily): string {
  return `pol-p${family}-${shortHash(id)}`;
}

const MAX_COMMENT_BYTES = 128;

/** `text` as an nft comment: no quotes, backslashes or line breaks, at most 128 bytes. */
export function nftComment(text: string): string {
  const out = text.replace(/["\\]/g, "'").replace(/[\r\n]+/g, " ");
  if (Buffer.byteLength(out) <= MAX_COMMENT_BYTES) return out;
  let keep = Math.min(out.length, MAX_COMMENT_BYTES - 3);
  while (Buffer.byteLength(out.slice(0, keep)) > MAX_COMMENT_BYTES - 3) keep--;
  return `${out.slice(0, keep)}…`;
}
