// The CNI commands on the agent side, one function each over a validated request. They are called
// one at a time (server.ts queues them), so IPAM decisions never race.

import { existsSync } from "node:fs";
import type { IpamAllocation, IpamDecider, IpamDecision } from "../ipam/decider.ts";
import type { AllocationStore } from "../ipam/store.ts";
import { canonicalIp, ipFamily } from "../net/cidr.ts";
import {
  ALIAS_PREFIX,
  type AttachmentSpec,
  attachmentResult,
  hostInterfaceName,
  planAttachmentScript,
  planHostTeardown,
} from "./attachment.ts";
import { ipJson, type NodeShell, runNodeScript } from "./netexec.ts";
import { podIdentity, requestedIPs, validAttachments } from "./request.ts";
import { type CniEnvironment, CniError, type CniResult, ErrorCode } from "./spec.ts";

export type PodLookup = (
  namespace: string,
  name: string,
) => { annotations: Record<string, string> } | undefined;

export interface HandlerContext {
  /** A shell in the node's namespace. */
  shell: NodeShell;
  /** net.ipv6.conf.default.disable_ipv6 is 1 in the node's namespace. */
  ipv6DisabledByDefault: boolean;
  podCIDRs: string[];
  mtu: number;
  ipam: IpamDecider;
  store: AllocationStore;
  lookupPod?: PodLookup;
}

function refusalError(decision: Extract<IpamDecision, { ok: false }>, decider: string): CniError {
  const code =
    decision.reason === "exhausted"
      ? ErrorCode.poolExhausted
      : decision.reason === "requested-unavailable"
        ? ErrorCode.requestedAddressUnavailable
        : ErrorCode.invalidConfig;
  return new CniError(code, `IPAM (${decider}): ${decision.message}`);
}

function specFor(
  ctx: HandlerContext,
  env: CniEnvironment,
  allocs: IpamAllocation[],
  decision?: IpamDecision,
): AttachmentSpec {
  const addresses =
    decision?.ok === true
      ? decision.addresses
      : allocs.map((a) => ({ ip: a.ip, prefixLength: ipFamily(a.ip) === 4 ? 32 : 128 }));
  const routes =
    decision?.ok === true
      ? decision.routes
      : [...new Set(allocs.map((a) => ipFamily(a.ip)))].map((f) => ({ dst: f === 4 ? "0.0.0.0/0" : "::/0" }));
  return {
    containerId: env.containerId,
    ifName: env.ifName,
    podNetns: env.netns,
    mtu: ctx.mtu,
    addresses,
    routes,
  };
}

async function teardownHost(ctx: HandlerContext, containerId: string, ifName: string): Promise<void> {
  await runNodeScript(
    ctx.shell,
    planHostTeardown(containerId, ifName),
    `removing the veth of ${containerId}`,
  );
}

export async function handleAdd(
  ctx: HandlerContext,
  env: CniEnvironment,
  config: Record<string, unknown>,
): Promise<CniResult> {
  if (config.prevResult !== undefined)
    throw new CniError(
      ErrorCode.invalidConfig,
      "wasmplane must be the first plugin of the chain (ADD got a prevResult)",
    );
  checkPodNetns(env);
  // An ADD repeated after a lost answer (agent restart, runtime retry) gets the same addresses.
  const existing = ctx.store.forAttachment(env.containerId, env.ifName);
  if (existing.length > 0) {
    const spec = specFor(ctx, env, existing);
    await attachOrRollBack(ctx, spec, existing, false);
    return attachmentResult(spec);
  }
  const decision = await decideAddresses(ctx, env, config);
  const allocs = commitDecision(ctx, env, decision);
  const spec = specFor(ctx, env, allocs, decision);
  await attachOrRollBack(ctx, spec, allocs, true);
  return attachmentResult(spec);
}

function checkPodNetns(env: CniEnvironment): void {
  if (!existsSync(env.netns))
    throw new CniError(
      ErrorCode.invalidEnvironment,
      `CNI_NETNS: network namespace ${env.netns} does not exist`,
    );
}

/** Who an allocation belongs to: the attachment, and its pod when the runtime named it. */
function owner(env: CniEnvironment) {
  const pod = podIdentity(env.args);
  return { containerId: env.containerId, ifName: env.ifName, podNamespace: pod.namespace, podName: pod.name };
}

/** Asks the IPAM decider for the attachment's addresses; a refusal or a failing plugin is a CniError. */
async function decideAddresses(
  ctx: HandlerContext,
  env: CniEnvironment,
  config: Record<string, unknown>,
): Promise<Extract<IpamDecision, { ok: true }>> {
  const pod = podIdentity(env.args);
  const annotations =
    pod.namespace && pod.name ? ctx.lookupPod?.(pod.namespace, pod.name)?.annotations : undefined;
  let decision: IpamDecision;
  try {
    decision = await ctx.ipam.allocate({
      podCIDRs: ctx.podCIDRs,
      allocations: ctx.store.list(),
      lastAllocated: ctx.store.lastAllocated(),
      request: { ...owner(env), requestedIPs: requestedIPs(config, env.args, annotations) },
    });
  } catch (err) {
    // A plugin that trapped, timed out or answered nonsense: nothing was allocated; the runtime
    // retries, by when the host has restarted the plugin (or an operator has replaced it).
    throw new CniError(ErrorCode.tryAgainLater, `IPAM (${ctx.ipam.name}) failed: ${(err as Error).message}`);
  }
  if (!decision.ok) throw refusalError(decision, ctx.ipam.name);
  if (decision.addresses.length === 0)
    throw new CniError(ErrorCode.poolExhausted, `IPAM (${ctx.ipam.name}): no address decided`);
  return decision;
}

/** Records the decided addresses durably, before anything is created in the kernel. */
function commitDecision(
  ctx: HandlerContext,
  env: CniEnvironment,
  decision: Extract<IpamDecision, { ok: true }>,
): IpamAllocation[] {
  const now = Date.now();
  const allocs = decision.addresses.map((a) => ({ ip: canonicalIp(a.ip), ...owner(env), allocatedAt: now }));
  try {
    ctx.store.commitAllocations(allocs);
  } catch (err) {
    throw new CniError(
      ErrorCode.requestedAddressUnavailable,
      `IPAM (${ctx.ipam.name}): ${(err as Error).message}`,
    );
  }
  return allocs;
}

/**
 * Creates the veth and addresses. On failure the node side is removed and, for a fresh allocation,
 * the addresses are released, so a failed ADD leaves nothing behind.
 */
async function attachOrRollBack(
  ctx: HandlerContext,
  spec: AttachmentSpec,
  allocs: IpamAllocation[],
  fresh: boolean,
): Promise<void> {
  const attach = (removeLeftover: boolean) =>
    runNodeScript(
      ctx.shell,
      planAttachmentScript(spec, { removeLeftover, ipv6DisabledByDefault: ctx.ipv6DisabledByDefault }),
      `attaching ${spec.ifName} of ${spec.containerId}`,
    );
  try {
    // A repeated ADD may find the veth of its interrupted first try.
    await attach(!fresh).catch((err: Error) => {
      if (fresh && /File exists/.test(err.message)) return attach(true);
      throw err;
    });
  } catch (err) {
    await teardownHost(ctx, spec.containerId, spec.ifName).catch(() => {});
    if (fresh) ctx.store.commitRelease(allocs.map((a) => a.ip));
    throw err;
  }
}

export async function handleDel(ctx: HandlerContext, env: CniEnvironment): Promise<void> {
  await teardownHost(ctx, env.containerId, env.ifName);
  ctx.store.commitRelease(ctx.store.forAttachment(env.containerId, env.ifName).map((a) => a.ip));
}

interface IpAddrInfo {
  ifname: string;
  address: string;
  operstate: string;
  mtu: number;
  addr_info: { family: string; local: string; prefixlen: number }[];
}

interface IpRouteInfo {
  dst: string;
  gateway?: string;
  dev?: string;
}

export async function handleCheck(
  ctx: HandlerContext,
  env: CniEnvironment,
  config: Record<string, unknown>,
): Promise<void> {
  const allocs = ctx.store.forAttachment(env.containerId, env.ifName);
  if (allocs.length === 0)
    throw new CniError(
      ErrorCode.unknownContainer,
      `container ${env.containerId} (${env.ifName}) has no wasmplane attachment`,
    );
  const prev = config.prevResult as { ips?: { address: string }[] } | undefined;
  const want = new Set(allocs.map((a) => a.ip));
  if (prev?.ips) {
    const prevIps = new Set(prev.ips.map((i) => canonicalIp(i.address.split("/")[0])));
    for (const ip of want)
      if (!prevIps.has(ip))
        throw new CniError(
          ErrorCode.checkFailed,
          `CHECK: prevResult does not list ${ip}, which is allocated to ${env.containerId}`,
        );
  }
  checkPodNetns(env);
  const links = await ipJson<IpAddrInfo[]>(
    ctx.shell,
    ["addr", "show"],
    "reading the pod's addresses",
    env.netns,
  ).catch(() => [] as IpAddrInfo[]);
  const link = links.find((l) => l.ifname === env.ifName);
  if (!link)
    throw new CniError(ErrorCode.checkFailed, `CHECK: interface ${env.ifName} is missing in ${env.netns}`);
  const have = new Set(link.addr_info.map((a) => canonicalIp(a.local)));
  for (const ip of want)
    if (!have.has(ip))
      throw new CniError(ErrorCode.checkFailed, `CHECK: ${env.ifName} in ${env.netns} lacks address ${ip}`);
  if (link.mtu !== ctx.mtu)
    throw new CniError(ErrorCode.checkFailed, `CHECK: ${env.ifName} has MTU ${link.mtu}, want ${ctx.mtu}`);
  await checkRoutes(ctx, env, want);
}

/** Per family of the pod's addresses: its default route, and the node's route to each address. */
async function checkRoutes(ctx: HandlerContext, env: CniEnvironment, want: Set<string>): Promise<void> {
  const host = hostInterfaceName(env.containerId, env.ifName);
  for (const family of [4, 6] as const) {
    const ips = [...want].filter((ip) => ipFamily(ip) === family);
    if (ips.length === 0) continue;
    const podRoutes = await ipJson<IpRouteInfo[]>(
      ctx.shell,
      [`-${family}`, "route", "show", "default"],
      "reading the pod's routes",
      env.netns,
    );
    if (!podRoutes.some((r) => r.dev === env.ifName))
      throw new CniError(
        ErrorCode.checkFailed,
        `CHECK: the pod has no IPv${family} default route via ${env.ifName}`,
      );
    const hostRoutes = await ipJson<IpRouteInfo[]>(
      ctx.shell,
      [`-${family}`, "route", "show", "dev", host],
      "reading the node's routes",
    ).catch(() => [] as IpRouteInfo[]);
    for (const ip of ips)
      if (!hostRoutes.some((r) => canonicalIp(r.dst.split("/")[0]) === ip))
        throw new CniError(ErrorCode.checkFailed, `CHECK: the node has no route to ${ip} via ${host}`);
  }
}

export function handleStatus(ctx: HandlerContext): void {
  if (ctx.podCIDRs.length === 0)
    throw new CniError(ErrorCode.notAvailable, "the node has no pod CIDR yet (Node spec.podCIDRs is empty)");
}

interface LinkInfo {
  ifname: string;
  ifalias?: string;
}

/** Releases allocations and node-side veths of attachments the runtime no longer knows. */
export async function handleGc(
  ctx: HandlerContext,
  config: Record<string, unknown>,
): Promise<{ released: string[] }> {
  const valid = new Set(validAttachments(config).map((a) => `${a.containerId}/${a.ifName}`));
  return collectGarbage(ctx, (containerId, ifName) => valid.has(`${containerId}/${ifName}`));
}

export async function collectGarbage(
  ctx: HandlerContext,
  keep: (containerId: string, ifName: string) => boolean,
): Promise<{ released: string[] }> {
  const stale = ctx.store.list().filter((a) => !keep(a.containerId, a.ifName));
  const links = await ipJson<LinkInfo[]>(
    ctx.shell,
    ["link", "show", "type", "veth"],
    "listing the node's veths",
  );
  const script: string[] = [];
  for (const link of links) {
    if (!link.ifalias?.startsWith(ALIAS_PREFIX)) continue;
    const [containerId, ifName] = splitAlias(link.ifalias);
    if (!keep(containerId, ifName) && link.ifname === hostInterfaceName(containerId, ifName))
      script.push(planHostTeardown(containerId, ifName));
  }
  if (script.length > 0) await runNodeScript(ctx.shell, script.join(""), "removing stale veths");
  const released = stale.map((a) => a.ip);
  ctx.store.commitRelease(released);
  return { released };
}

function splitAlias(alias: string): [string, string] {
  const rest = alias.slice(ALIAS_PREFIX.length);
  const slash = rest.lastIndexOf("/");
  return [rest.slice(0, slash), rest.slice(slash + 1)];
}
