// The `cni:` section of the agent config, checked: every bad value is an error naming its field.
import type { PeerRoutingMode, VxlanOptions } from "./peer-routes.ts";

export interface CniSection {
  /** Serve CNI requests (default true when the section is present). */
  enabled: boolean;
  socket?: string;
  stateDir?: string;
  mtu?: number;
  ipam?: string;
  pluginLock?: string;
  routing?: PeerRoutingMode | "none";
  vxlan?: VxlanOptions;
  reconcilePods?: boolean;
  reconcileIntervalMs?: number;
}

const KNOWN = [
  "enabled",
  "socket",
  "stateDir",
  "mtu",
  "ipam",
  "pluginLock",
  "routing",
  "vxlan",
  "reconcilePods",
  "reconcileIntervalSeconds",
];

function integer(raw: unknown, field: string, min: number, max: number): number {
  if (typeof raw !== "number" || !Number.isInteger(raw) || raw < min || raw > max)
    throw new Error(`${field}: want an integer ${min}-${max} (got ${JSON.stringify(raw)})`);
  return raw;
}

function text(raw: unknown, field: string): string {
  if (typeof raw !== "string" || raw === "")
    throw new Error(`${field}: want a non-empty string (got ${JSON.stringify(raw)})`);
  return raw;
}

/** `where` prefixes field names in errors, e.g. "agent config cni". */
export function parseCniSection(raw: Record<string, unknown>, where = "cni"): CniSection {
  for (const key of Object.keys(raw))
    if (!KNOWN.includes(key)) throw new Error(`${where}.${key}: unknown field (known: ${KNOWN.join(", ")})`);
  const out: CniSection = { enabled: true };
  if (raw.enabled !== undefined) {
    if (typeof raw.enabled !== "boolean") throw new Error(`${where}.enabled: want true or false`);
    out.enabled = raw.enabled;
  }
  if (raw.socket !== undefined) out.socket = text(raw.socket, `${where}.socket`);
  if (raw.stateDir !== undefined) out.stateDir = text(raw.stateDir, `${where}.stateDir`);
  if (raw.mtu !== undefined) out.mtu = integer(raw.mtu, `${where}.mtu`, 576, 65535);
  if (raw.ipam !== undefined) {
    const ipam = text(raw.ipam, `${where}.ipam`);
    if (ipam !== "range" && !ipam.startsWith("wasm:"))
      throw new Error(
        `${where}.ipam: want range, wasm:range, wasm:random, wasm:static or wasm:/path.wasm (got "${ipam}")`,
      );
    out.ipam = ipam;
  }
  if (raw.pluginLock !== undefined) out.pluginLock = text(raw.pluginLock, `${where}.pluginLock`);
  if (raw.routing !== undefined) {
    if (raw.routing !== "host-gw" && raw.routing !== "vxlan" && raw.routing !== "none")
      throw new Error(`${where}.routing: want host-gw, vxlan or none (got ${JSON.stringify(raw.routing)})`);
    out.routing = raw.routing;
  }
  if (raw.vxlan !== undefined) {
    const v = raw.vxlan as Record<string, unknown>;
    if (typeof v !== "object" || v === null || Array.isArray(v))
      throw new Error(`${where}.vxlan: want an object`);
    const vx: VxlanOptions = {};
    if (v.device !== undefined) vx.device = text(v.device, `${where}.vxlan.device`);
    if (v.vni !== undefined) vx.vni = integer(v.vni, `${where}.vxlan.vni`, 1, 16777215);
    if (v.port !== undefined) vx.port = integer(v.port, `${where}.vxlan.port`, 1, 65535);
    if (v.mtu !== undefined) vx.mtu = integer(v.mtu, `${where}.vxlan.mtu`, 576, 65535);
    out.vxlan = vx;
  }
  if (raw.reconcilePods !== undefined) {
    if (typeof raw.reconcilePods !== "boolean") throw new Error(`${where}.reconcilePods: want true or false`);
    out.reconcilePods = raw.reconcilePods;
  }
  if (raw.reconcileIntervalSeconds !== undefined)
    out.reconcileIntervalMs =
      integer(raw.reconcileIntervalSeconds, `${where}.reconcileIntervalSeconds`, 1, 86400) * 1000;
  return out;
}
