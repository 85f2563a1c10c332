// The agent side of the CNI plugin: a unix-socket server that the executable forwards each
// invocation to. Commands run one at a time, so IPAM decisions and store commits never interleave.
import { chmodSync, mkdirSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { dirname, join } from "node:path";
import type { IpamAllocation, IpamDecider } from "../ipam/decider.ts";
import { parsePodCidrs, rangeDecider } from "../ipam/range.ts";
import { AllocationStore } from "../ipam/store.ts";
import { hostInterfaceName } from "./attachment.ts";
import {
  collectGarbage,
  type HandlerContext,
  handleAdd,
  handleCheck,
  handleDel,
  handleGc,
  handleStatus,
  type PodLookup,
} from "./handlers.ts";
import { NodeShell, runNodeScript } from "./netexec.ts";
import type { NodeAttachment } from "./node-rules.ts";
import type { PeerRoutesPlan } from "./peer-routes.ts";
import { PeerRouter } from "./peer-routes-apply.ts";
import { type CniWireRequest, type CniWireResponse, MAX_REQUEST_BYTES } from "./protocol.ts";
import {
  type CniEnvironment,
  CniError,
  checkConfigVersion,
  checkContainerId,
  checkInterfaceName,
  checkNetnsPath,
  DEFAULT_AGENT_SOCKET,
  ErrorCode,
  renderResult,
  versionResult,
} from "./spec.ts";

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

function validateWireRequest(raw: unknown): CniWireRequest {
  const req = raw as CniWireRequest;
  const env = req?.env as CniEnvironment | undefined;
  if (!env || typeof env !== "object" || typeof req.config !== "object" || req.config === null)
    throw new CniError(ErrorCode.decodeFailure, "request: want {env, config}");
  for (const field of ["command", "containerId", "netns", "ifName", "path"] as const)
    if (typeof env[field] !== "string")
      throw new CniError(ErrorCode.decodeFailure, `request: env.${field} must be a string`);
  if (typeof env.args !== "object" || env.args === null)
    throw new CniError(ErrorCode.decodeFailure, "request: env.args must be an object");
  const needs: Record<string, (keyof CniEnvironment)[]> = {
    ADD: ["containerId", "netns", "ifName"],
    DEL: ["containerId", "ifName"],
    CHECK: ["containerId", "netns", "ifName"],
  };
  for (const field of Object.hasOwn(needs, env.command) ? needs[env.command] : [])
    if (!env[field])
      throw new CniError(ErrorCode.invalidEnvironment, `request: ${env.command} needs env.${field}`);
  // The executable checked these too; a client of the socket need not be the executable.
  if (env.containerId) checkContainerId(env.containerId);
  if (env.ifName) checkInterfaceName(env.ifName);
  if (env.netns) checkNetnsPath(env.netns);
  return req;
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
  const log = options.log ?? (() => {});
  const ctx = await openContext(options);
  const { shell } = ctx;
  const peerRouter = new PeerRouter(shell);

  // One command at a time.
  let queue: Promise<unknown> = Promise.resolve();
  const serialized = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn);
    queue = next.catch(() => {});
    return next;
  };

  async function notifyChanged(): Promise<void> {
    try {
      await options.onAttachmentsChanged?.();
    } catch (err) {
      log(`cni: updating node rules after an attachment change failed: ${(err as Error).message}`);
    }
  }

  function attachments(): NodeAttachment[] {
    const byIf = new Map<string, NodeAttachment>();
    for (const a of ctx.store.list()) {
      const hostInterface = hostInterfaceName(a.containerId, a.ifName);
      const entry = byIf.get(hostInterface) ?? { hostInterface, addresses: [] };
      entry.addresses.push(a.ip);
      byIf.set(hostInterface, entry);
    }
    return [...byIf.values()];
  }

  let stateKnown = options.awaitClusterState !== true;

  /** A command for which the client is gone is not carried out: the runtime saw it fail. */
  function checkClientWaiting(clientGone: () => boolean, command: string): void {
    if (clientGone())
      throw new CniError(
        ErrorCode.tryAgainLater,
        `${command}: the caller gave up before it ran; not carried out`,
      );
  }

  function checkStateKnown(command: string): void {
    if (!stateKnown)
      throw new CniError(
        ErrorCode.tryAgainLater,
        `${command}: the agent has not read the cluster state yet (pod CIDRs unknown); try again later`,
      );
  }

  /** An ADD whose caller left while it ran is undone, so no veth or address outlives a failed call. */
  async function addOrRollBack(
    env: CniEnvironment,
    config: Record<string, unknown>,
    clientGone: () => boolean,
  ): Promise<Awaited<ReturnType<typeof handleAdd>>> {
    const result = await handleAdd(ctx, env, config);
    if (!clientGone()) return result;
    await handleDel(ctx, env);
    throw new CniError(
      ErrorCode.tryAgainLater,
      `ADD ${env.containerId}: the caller gave up while it ran; rolled back`,
    );
  }

  async function dispatch(raw: unknown, clientGone: () => boolean): Promise<CniWireResponse> {
    let version: string | undefined;
    try {
      const { env, config } = validateWireRequest(raw);
      if (env.command === "VERSION")
        return { ok: true, output: versionResult(config.cniVersion as string | undefined) };
      version = checkConfigVersion(env.command, config);
      const started = performance.now();
      let changed = false;
      const output = await serialized(async () => {
        checkClientWaiting(clientGone, env.command);
        switch (env.command) {
          case "ADD": {
            checkStateKnown("ADD");
            const result = await addOrRollBack(env, config, clientGone);
            changed = true;
            return renderResult(version!, result);
          }
          case "DEL":
            await handleDel(ctx, env);
            changed = true;
            return undefined;
          case "CHECK":
            await handleCheck(ctx, env, config);
            return undefined;
          case "STATUS":
            checkStateKnown("STATUS");
            handleStatus(ctx);
            return undefined;
          case "GC": {
            const { released } = await handleGc(ctx, config);
            if (released.length > 0) {
              log(`cni: GC released ${released.join(", ")}`);
              changed = true;
            }
            return undefined;
          }
          default:
            throw new CniError(ErrorCode.invalidEnvironment, `CNI_COMMAND: unknown command '${env.command}'`);
        }
      });
      // Outside the command queue: the agent's sync may call back into this server (setPodCIDRs,
      // applyPeerRoutes), which queues behind the current command.
      if (changed) await notifyChanged();
      log(
        `cni: ${env.command} ${env.containerId} ${env.ifName} ok in ${(performance.now() - started).toFixed(1)} ms`,
      );
      return output ? { ok: true, output } : { ok: true };
    } catch (err) {
      const e =
        err instanceof CniError
          ? err
          : new CniError(ErrorCode.ioFailure, (err as Error)?.message ?? String(err));
      log(`cni: error ${e.code}: ${e.message}`);
      return {
        ok: false,
        error: { code: e.code, msg: e.message, ...(e.details ? { details: e.details } : {}) },
      };
    }
  }

  function answer(conn: Socket, response: CniWireResponse): void {
    conn.end(`${JSON.stringify(response)}\n`);
  }

  function onConnection(conn: Socket): void {
    let buffer = "";
    let tooLarge = false;
    let answered = false;
    let gone = false;
    conn.setEncoding("utf8");
    conn.on("error", () => {});
    conn.on("close", () => {
      if (!answered) gone = true;
    });
    const onData = (chunk: string) => {
      const nl = chunk.indexOf("\n");
      // Past the limit the rest of the line is read and dropped, then answered with the reason.
      if (tooLarge || buffer.length + (nl < 0 ? chunk.length : nl) > MAX_REQUEST_BYTES) {
        tooLarge = true;
        buffer = "";
        if (nl < 0) return;
        conn.off("data", onData);
        answered = true;
        answer(conn, {
          ok: false,
          error: {
            code: ErrorCode.invalidConfig,
            msg: `request larger than ${MAX_REQUEST_BYTES} bytes: the network configuration is too large`,
          },
        });
        return;
      }
      buffer += chunk;
      if (nl < 0) return;
      const line = buffer.slice(0, buffer.length - chunk.length + nl);
      conn.off("data", onData);
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch (err) {
        answered = true;
        answer(conn, {
          ok: false,
          error: { code: ErrorCode.decodeFailure, msg: `request is not JSON: ${(err as Error).message}` },
        });
        return;
      }
      dispatch(parsed, () => gone).then((response) => {
        answered = true;
        answer(conn, response);
      });
    };
    conn.on("data", onData);
  }

  mkdirSync(dirname(socketPath), { recursive: true });
  // A socket file left by a previous agent (kill -9) would make listen fail with EADDRINUSE.
  rmSync(socketPath, { force: true });
  const server: Server = createServer(onConnection);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => {
      server.off("error", reject);
      resolve();
    });
  }).catch((err: Error) => {
    shell.close();
    ctx.store.close();
    throw new Error(`cni: listening on ${socketPath}: ${err.message}`);
  });
  chmodSync(socketPath, 0o600);
  log(`cni: listening on ${socketPath} (pod CIDRs ${ctx.podCIDRs.join(", ")}, IPAM ${ctx.ipam.name})`);

  return {
    socketPath,
    clusterStateKnown() {
      stateKnown = true;
    },
    async setPodCIDRs(podCIDRs) {
      parsePodCidrs(podCIDRs);
      await serialized(async () => {
        ctx.podCIDRs = [...podCIDRs];
        await enableForwarding(shell, ctx.podCIDRs);
      });
    },
    applyPeerRoutes: (plan) => serialized(() => peerRouter.apply(plan)),
    setIpam: (decider) =>
      serialized(async () => {
        const previous = ctx.ipam;
        ctx.ipam = decider;
        log(`cni: IPAM decider ${previous.name} replaced by ${decider.name}`);
        return previous;
      }),
    allocations: () => ctx.store.list(),
    attachments,
    async reconcilePods(knownPods, minAgeMs = 60_000) {
      const now = Date.now();
      return serialized(() =>
        collectGarbage(ctx, (containerId, ifName) =>
          ctx.store
            .forAttachment(containerId, ifName)
            .every(
              (a) =>
                !a.podNamespace ||
                !a.podName ||
                knownPods.has(`${a.podNamespace}/${a.podName}`) ||
                now - (a.allocatedAt ?? now) < minAgeMs,
            ),
        ),
      );
    },
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await queue;
      ctx.store.close();
      shell.close();
      rmSync(socketPath, { force: true });
    },
  };
}
