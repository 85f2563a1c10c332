// Plugin kinds share one envelope (docs/plugin-abi.md); the kind code in the envelope header and the
// manifest's kind must agree.
export type PluginKind = "lb" | "ipam" | "policy";

export const KIND_CODES: Record<PluginKind, number> = { lb: 1, ipam: 2, policy: 3 };

export function isKnownKind(kind: string): kind is PluginKind {
  return Object.hasOwn(KIND_CODES, kind);
}

/** ABI versions this host speaks. */
export const SUPPORTED_ABI_VERSIONS = [1];
export const ABI_VERSION = 1;
