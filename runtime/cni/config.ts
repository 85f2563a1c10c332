// The `cni:` section of the agent config, checked: every bad value is an error naming its field.
import type { z } from "zod";
import { flag, integer, nonEmptyText, oneOf, parseConfig, section, under } from "../config/schema.ts";
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

const ipamSpec = nonEmptyText().superRefine((ipam, ctx) => {
  if (ipam !== "range" && !ipam.startsWith("wasm:"))
    ctx.addIssue({
      code: "custom",
      message: `must be range, wasm:range, wasm:random, wasm:static or wasm:/path.wasm, got ${JSON.stringify(ipam)}`,
    });
});

const vxlan = section({
  device: nonEmptyText().optional(),
  vni: integer(1, 16777215).optional(),
  port: integer(1, 65535).optional(),
  mtu: integer(576, 65535).optional(),
});

/** The section as written in the agent config. */
export const cniSectionSchema = section({
  enabled: flag().optional(),
  socket: nonEmptyText().optional(),
  stateDir: nonEmptyText().optional(),
  mtu: integer(576, 65535).optional(),
  ipam: ipamSpec.optional(),
  pluginLock: nonEmptyText().optional(),
  routing: oneOf(["host-gw", "vxlan", "none"]).optional(),
  vxlan: vxlan.optional(),
  reconcilePods: flag().optional(),
  reconcileIntervalSeconds: integer(1, 86400).optional(),
});

function toCniSection(given: z.output<typeof cniSectionSchema>): CniSection {
  const { reconcileIntervalSeconds, ...rest } = given;
  return {
    enabled: true,
    ...rest,
    ...(reconcileIntervalSeconds !== undefined
      ? { reconcileIntervalMs: reconcileIntervalSeconds * 1000 }
      : {}),
  };
}

/** `where` prefixes field names in errors, e.g. "config cni" → `config cni.mtu: must be …`. */
export function parseCniSection(raw: Record<string, unknown>, where = "cni"): CniSection {
  return toCniSection(parseConfig(cniSectionSchema, raw, under(where)));
}
