// The load-balancing plan: what an `lb` plugin returns for one service port, and what the service
// planner renders into nftables. A plan is a selection mode plus a slot table; nftables picks a slot
// for each new connection and the slot names an endpoint.

/** Fields a hash selection may combine. */
export type HashField = "saddr" | "sport" | "daddr" | "dport" | "l4proto";

/** How nftables picks a slot for a new connection. */
export type LbSelection =
  /** `numgen random mod <slots>` */
  | { mode: "random" }
  /** `numgen inc mod <slots>` */
  | { mode: "round-robin" }
  /** `jhash <fields> mod <slots> seed <seed>` */
  | { mode: "hash"; fields: HashField[]; seed: number };

export interface LbPlan {
  selection: LbSelection;
  /** slots[i] is an index into the endpoint list the plan was made for. Never empty when there are endpoints. */
  slots: number[];
}

/** One endpoint as an LB plugin sees it. Only endpoints the service planner chose (ready, or serving). */
export interface LbEndpoint {
  address: string;
  port: number;
  nodeName?: string;
  zone?: string;
  /** Relative weight, 1 unless a hint or annotation says otherwise. */
  weight: number;
}

/** One service port to plan. */
export interface LbRequest {
  /** "namespace/name:portName" (portName may be empty), unique within a batch. */
  key: string;
  /** Algorithm asked for (annotation `lb.wasmplane.io/algorithm`, else the configured default). */
  algorithm: string;
  endpoints: LbEndpoint[];
  /** The zone of this node, for topology-aware plans. */
  nodeZone?: string;
  /** The name of this node (ABI 1.1): sent only to plugins whose manifest `reads` lists `nodeName`. */
  nodeName?: string;
  /** Extra per-service parameters (annotations under `lb.wasmplane.io/`), e.g. weights. */
  params: Record<string, string>;
}

export type LbResult = { ok: true; plan: LbPlan } | { ok: false; error: string };

/** Plans many service ports in one call. Implemented by the built-in planner and by the Wasm plugin host. */
export interface LbPlanner {
  plan(requests: LbRequest[]): Promise<LbResult[]>;
}

/** The built-in plan until a plugin is configured: equal-weight random over every endpoint. */
export function equalRandomPlan(endpointCount: number): LbPlan {
  return { selection: { mode: "random" }, slots: Array.from({ length: endpointCount }, (_, i) => i) };
}

export const builtinLbPlanner: LbPlanner = {
  async plan(requests) {
    return requests.map((r) => ({ ok: true, plan: equalRandomPlan(r.endpoints.length) }));
  },
};
