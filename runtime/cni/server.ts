// The agent side of the CNI plugin: a unix-socket server that the executable forwards each
// invocation to. Commands run one at a time, so IPAM decisions and store commits never interleave.
import { chmodSync, mkdirSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { dirname, join } from "node:path";
import type { IpamAllocation, IpamDecider } from "../ipam/decider.ts";
import { parsePodCidrs, rangeDecider } from "../ipam/range.ts";
import { AllocationStore } from "../ipam/store.ts";
import { hostInterfaceName } from "./attachment.ts";
import { CommandQueue } from "./command-queue.ts";
import { serveConnection } from "./connection.ts";
import { type DispatchState, dispatch } from "./dispatch.ts";
import { collectGarbage, type HandlerContext, type PodLookup } from "./handlers.ts";
import { NodeShell, runNodeScript } from "./netexec.ts";
import type { NodeAttachment } from "./node-rules.ts";
import type { PeerRoutesPlan } from "./peer-routes.ts";
import { PeerRouter } from "./peer-routes-apply.ts";
import { DEFAULT_AGENT_SOCKET } from "./spec.ts";

export const DEFAULT_STATE_DIR = "/var/lib/wasmplane";
export const DEFAULT_MTU = 1500;

export interface CniServerOptions {
  /** Default /run/wasmplane/cni.sock. */
  socketPath?: string;
  /** The node's network namespace by name (`agent --netns`); absent: the agent's own namespace. */
  nodeNetns?: string;
  /** Allocations live in `<stateDir>/ipam/`. Default /var/lib/wasmplane. */
  stateDir?: string;
  /** The node's pod CIDRs (Node spec.podCIDRs): at most one IPv4 and one IPv6. */
  podCIDRs: string[];
  /** MTU of both veth ends. Default 1500. */
  mtu?: number;
  /** Default: the built-in `range` decider. */
  ipam?: IpamDecider;
  /** Pod annotations for requested addresses (ipam.wasmplane.io/ips). */
  lookupPod?: PodLookup;
  /** fsync each allocation (default true); off only in benchmarks. */
  fsync?: boolean;
  /**
   * Called (and awaited) after an ADD, DEL or GC command changed the node's attachments, before the
   * answer goes back: the agent re-plans the node rules (anti-spoofing set) so a new pod's first packet is
   * not dropped. A failure is logged; the CNI command still succeeds. It runs outside the command
   * queue, so it may call this server's methods.
   */
  onAttachmentsChanged?: () => Promise<void> | void;
  /**
   * The pod CIDRs are not known yet (the agent's source has not synced): ADD and STATUS answer 11
   * (try again later) until `clusterStateKnown()`, rather than "no pod CIDR".
   */
  awaitClusterState?: boolean;
  log?: (line: string) => void;
  /** Told of each command's outcome and latency (the agent's metrics). */
  onCommand?: (command: string, durationMs: number, ok: boolean) => void;
}

export interface CniServer {
  readonly socketPath: string;
  /** The agent has read the cluster state: pod CIDRs from now on are the Node object's. */
  clusterStateKnown(): void;
  /** The pod CIDRs changed (Node object update). Existing allocations stay. */
  setPodCIDRs(podCIDRs: string[]): Promise<void>;
  /**
   * Hot swap of the IPAM decider: commands already queued finish with the old one. Decisions are
   * pure and allocations live in the store, so nothing migrates. Returns the previous decider.
   */
  setIpam(decider: IpamDecider): Promise<IpamDecider>;
  /** Routes to the other nodes' pod CIDRs (plan with planPeerRoutes from the Node objects). */
  applyPeerRoutes(plan: PeerRoutesPlan): Promise<void>;
  /** Current allocations (for status and tests). */
  allocations(): IpamAllocation[];
  /** The node's pod attachments (veth + addresses), the input of planNodeRules. */
  attachments(): NodeAttachment[];
  /**
   * Periodic reconcile against known pods: releases allocations (and their veths) whose pod
   * ("namespace/name") is not in `knownPods` and that are older than `minAgeMs` (default 60 s,
   * so a pod the watch has not delivered yet keeps its fresh address). It does not call
   * `onAttachmentsChanged`: the agent runs it inside a sync and requests the next one itself.
   */
  reconcilePods(knownPods: Set<string>, minAgeMs?: number): Promise<{ released: string[] }>;
  close(): Promise<void>;
}

/** ip_forward and IPv6 forwarding in the node's namespace, once per pod CIDR family. */
async function enableForwarding(shell: NodeShell, podCIDRs: string[]): Promise<void> {
  const families = new Set(parsePodCidrs(podCIDRs).map((c) => c.family));
  const lines: string[] = [];
  if (families.has(4)) lines.push("printf 1 > /proc/sys/net/ipv4/ip_forward");
  // Turning on IPv6 forwarding stops SLAAC on the node's own interfaces unless accept_ra=2; only
  // done when the node has an IPv6 pod CIDR (see docs/cni.md).
  if (families.has(6)) lines.push("printf 1 > /proc/sys/net/ipv6/conf/all/forwarding");
  if (lines.length > 0) await runNodeScript(shell, lines.join("\n"), "enabling forwarding");
}

/**
 * The handlers' context: pod CIDRs checked first, then the allocation store, then the node shell.
 * A failure on the way closes what was opened, so a start that fails leaves no process behind.
 */
async function openContext(options: CniServerOptions): Promise<HandlerContext> {
  parsePodCidrs(options.podCIDRs);
  const store = AllocationStore.open(join(options.stateDir ?? DEFAULT_STATE_DIR, "ipam"), {
    fsync: options.fsync,
  });
  const shell = new NodeShell(options.nodeNetns);
  try {
    const ipv6Default = await runNodeScript(
      shell,
      "cat /proc/sys/net/ipv6/conf/default/disable_ipv6 2>/dev/null || echo 1",
      "reading disable_ipv6",
    );
    await enableForwarding(shell, options.podCIDRs);
    return {
      shell,
      ipv6DisabledByDefault: ipv6Default.trim() !== "0",
      podCIDRs: [...options.podCIDRs],
      mtu: options.mtu ?? DEFAULT_MTU,
      ipam: options.ipam ?? rangeDecider,
      store,
      lookupPod: options.lookupPod,
    };
  } catch (err) {
    shell.close();
    store.close();
    throw err;
  }
}

export async function startCniServer(options: CniServerOptions): Promise<CniServer> {
  const socketPath = options.socketPath ?? DEFAULT_AGENT_SOCKET;
  const ctx = await openContext(options);
  const state: DispatchState = {
    ctx,
    queue: new CommandQueue(),
    log: options.log ?? (() => {}),
    stateKnown: options.awaitClusterState !== true,
    onAttachmentsChanged: () => options.onAttachmentsChanged?.(),
    ...(options.onCommand ? { onCommand: options.onCommand } : {}),
  };
  const server = await listen(socketPath, (conn) =>
    serveConnection(conn, (request, clientGone) => dispatch(state, request, clientGone)),
  ).catch((err: Error) => {
    closeContext(ctx);
    throw err;
  });
  state.log(`cni: listening on ${socketPath} (pod CIDRs ${ctx.podCIDRs.join(", ")}, IPAM ${ctx.ipam.name})`);
  return serverApi(state, server, socketPath);
}

function closeContext(ctx: HandlerContext): void {
  ctx.shell.close();
  ctx.store.close();
}

/** Listens on a fresh socket file that only root may use. */
async function listen(socketPath: string, onConnection: (conn: Socket) => void): Promise<Server> {
  mkdirSync(dirname(socketPath), { recursive: true });
  // A socket file left by a previous agent (kill -9) would make listen fail with EADDRINUSE.
  rmSync(socketPath, { force: true });
  const server = createServer(onConnection);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => {
      server.off("error", reject);
      resolve();
    });
  }).catch((err: Error) => {
    throw new Error(`cni: listening on ${socketPath}: ${err.message}`);
  });
  chmodSync(socketPath, 0o600);
  return server;
}

/** The node's attachments (veth + addresses) from the allocation store. */
function attachmentsOf(ctx: HandlerContext): NodeAttachment[] {
  const byIf = new Map<string, NodeAttachment>();
  for (const a of ctx.store.list()) {
    const hostInterface = hostInterfaceName(a.containerId, a.ifName);
    const entry = byIf.get(hostInterface) ?? { hostInterface, addresses: [] };
    entry.addresses.push(a.ip);
    byIf.set(hostInterface, entry);
  }
  return [...byIf.values()];
}

/** Keeps an attachment whose pod is known, or that is too young to judge (see reconcilePods). */
function knownOrYoung(ctx: HandlerContext, knownPods: Set<string>, minAgeMs: number, now: number) {
  return (containerId: string, ifName: string) =>
    ctx.store
      .forAttachment(containerId, ifName)
      .every(
        (a) =>
          !a.podNamespace ||
          !a.podName ||
          knownPods.has(`${a.podNamespace}/${a.podName}`) ||
          now - (a.allocatedAt ?? now) < minAgeMs,
      );
}

function serverApi(state: DispatchState, server: Server, socketPath: string): CniServer {
  const { ctx, queue, log } = state;
  const peerRouter = new PeerRouter(ctx.shell);
  return {
    socketPath,
    clusterStateKnown() {
      state.stateKnown = true;
    },
    async setPodCIDRs(podCIDRs) {
      parsePodCidrs(podCIDRs);
      await queue.run(async () => {
        ctx.podCIDRs = [...podCIDRs];
        await enableForwarding(ctx.shell, ctx.podCIDRs);
      });
    },
    applyPeerRoutes: (plan) => queue.run(() => peerRouter.apply(plan)),
    setIpam: (decider) =>
      queue.run(async () => {
        const previous = ctx.ipam;
        ctx.ipam = decider;
        log(`cni: IPAM decider ${previous.name} replaced by ${decider.name}`);
        return previous;
      }),
    allocations: () => ctx.store.list(),
    attachments: () => attachmentsOf(ctx),
    async reconcilePods(knownPods, minAgeMs = 60_000) {
      const keep = knownOrYoung(ctx, knownPods, minAgeMs, Date.now());
      return queue.run(() => collectGarbage(ctx, keep));
    },
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await queue.idle();
      closeContext(ctx);
      rmSync(socketPath, { force: true });
    },
  };
}
