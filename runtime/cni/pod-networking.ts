// Everything the agent mounts for pod networking, behind one object: the CNI server, and for each
// sync a pure plan (node rules, own pod CIDRs, peer routes, whether the pod reconcile is due) that
// the agent commits with its nftables transaction and then hands back to `actuate`, which carries
// out the effects outside nftables (sysctls, routes, releasing stale allocations).
//
// Nothing here waits for a sync from inside one: `actuate` runs inside the agent's sync, so when the
// reconcile released addresses it only *requests* the next sync. CNI commands do wait for a sync
// (an ADD answers once its pod's rules are in the kernel), but they run outside any sync.
import type { TableFragment } from "../../nft/desired.ts";
import type { IpamDecider } from "../ipam/decider.ts";
import { ipamDeciderFromSpec } from "../ipam/select.ts";
import type { RunningWorker } from "../plugins/plugin-worker.ts";
import type { Snapshot } from "../store/objects.ts";
import { type NodeAttachment, type NodeRulesInput, planNodeRules } from "./node-rules.ts";
import {
  type PeerRoutesPlan,
  type PeerRoutingMode,
  planPeerRoutes,
  type VxlanOptions,
} from "./peer-routes.ts";
import { type CniServer, startCniServer } from "./server.ts";

export interface PodNetworkingOptions {
  nodeName: string;
  /** `agent --netns`: the node's namespace; absent: the agent's own. */
  nodeNetns?: string;
  /** Default /run/wasmplane/cni.sock. */
  socketPath?: string;
  /** Default /var/lib/wasmplane. */
  stateDir?: string;
  mtu?: number;
  /** "range" (default), "wasm:range", "wasm:random", "wasm:static", "wasm:/path.wasm". */
  ipam?: string;
  /** Plugin lock file: a Wasm IPAM module must be listed in it with the same sha256. */
  pluginLock?: string;
  /** The cluster's pod CIDRs (masquerade exceptions); default: this node's. */
  clusterCIDRs?: string[];
  masquerade?: boolean;
  /** Routes to other nodes' pod CIDRs; "none" when something else routes them. Default "host-gw". */
  routing?: PeerRoutingMode | "none";
  vxlan?: VxlanOptions;
  /**
   * Release allocations of pods the snapshot does not hold. Only when the source delivers every
   * pod (the Kubernetes API); a manifest directory without Pod objects would release everything.
   */
  reconcilePods?: boolean;
  /** Default 60 s. */
  reconcileIntervalMs?: number;
  /**
   * Called (and awaited) by a CNI ADD, DEL or GC that changed the node's attachments, before it
   * answers: resolves once a sync put the new node rules in the kernel. Never called from a sync.
   */
  syncNow: () => Promise<void>;
  /** Asks for a sync soon without waiting for it (the reconcile, which runs inside a sync, uses it). */
  requestSync: () => void;
  /** Told of every CNI command: its name, how long it took, whether it succeeded (metrics). */
  onCommand?: (command: string, durationMs: number, ok: boolean) => void;
  log?: (line: string) => void;
}

/** What pod networking needs for one sync; computed without I/O. */
export interface PodNetworkPlan {
  /** The node-rules fragment for this sync's transaction. */
  fragment: TableFragment;
  /** This node's pod CIDRs from its Node object. */
  podCIDRs: string[];
  /** Routes to the other nodes' pod CIDRs; null when routing is "none". */
  peerRoutes: PeerRoutesPlan | null;
  /** Pods ("namespace/name") the snapshot knows, when the reconcile is due; null otherwise. */
  reconcile: { knownPods: Set<string> } | null;
}

export interface PodNetworkPlanInput {
  snapshot: Snapshot;
  nodeName: string;
  attachments: NodeAttachment[];
  routing: PeerRoutingMode | "none";
  vxlan?: VxlanOptions;
  clusterCIDRs?: string[];
  masquerade?: boolean;
  hooks?: NodeRulesInput["hooks"];
  /** The reconcile is enabled and its interval has passed. */
  reconcileDue: boolean;
}

/** The pure half: the snapshot and the current attachments in, the plan out. */
export function planPodNetwork(input: PodNetworkPlanInput): PodNetworkPlan {
  const { snapshot } = input;
  const podCIDRs = snapshot.nodes.get(input.nodeName)?.podCIDRs ?? [];
  return {
    fragment: planNodeRules({
      attachments: input.attachments,
      podCIDRs,
      clusterCIDRs: input.clusterCIDRs,
      masquerade: input.masquerade,
      hooks: input.hooks,
    }),
    podCIDRs: [...podCIDRs],
    peerRoutes:
      input.routing === "none"
        ? null
        : planPeerRoutes({
            nodeName: input.nodeName,
            nodes: [...snapshot.nodes.values()],
            mode: input.routing,
            vxlan: input.vxlan,
          }),
    reconcile: input.reconcileDue ? { knownPods: new Set(snapshot.pods.keys()) } : null,
  };
}

/** Problems of a plan that do not stop the sync (a peer node without an address, …). */
export function podNetworkProblems(plan: PodNetworkPlan): string[] {
  return plan.peerRoutes?.problems ?? [];
}

export class PodNetworking {
  /** What `actuate` last carried out; the next plan is compared with it so unchanged effects are skipped. */
  private podCIDRs: string[];
  private peerPlanText = "";
  private lastReconcile = Date.now();
  private snapshot: Snapshot | undefined;

  private constructor(
    private readonly options: PodNetworkingOptions,
    readonly server: CniServer,
    private ipam: IpamDecider,
    podCIDRs: string[],
  ) {
    this.podCIDRs = podCIDRs;
  }

  /**
   * Starts the CNI server with the pod CIDRs of `initial` (none: ADD answers 100 until the first
   * actuated plan brings them) and routes to the peers it knows.
   */
  static async start(options: PodNetworkingOptions, initial?: Snapshot): Promise<PodNetworking> {
    const ipam = await ipamDeciderFromSpec(options.ipam ?? "range", { lockPath: options.pluginLock });
    let self: PodNetworking | undefined;
    const podCIDRs = initial?.nodes.get(options.nodeName)?.podCIDRs ?? [];
    const server = await startCniServer({
      socketPath: options.socketPath,
      nodeNetns: options.nodeNetns,
      stateDir: options.stateDir,
      podCIDRs,
      mtu: options.mtu,
      ipam,
      lookupPod: (namespace, name) => self?.snapshot?.pods.get(`${namespace}/${name}`),
      onAttachmentsChanged: () => options.syncNow(),
      // Without a snapshot the pod CIDRs are unknown until the agent's source synced and the first
      // plan is actuated: ADD answers "try again" until then, not "no pod CIDR".
      awaitClusterState: initial === undefined,
      ...(options.onCommand ? { onCommand: options.onCommand } : {}),
      log: options.log,
    });
    self = new PodNetworking(options, server, ipam, [...podCIDRs]);
    if (initial) await self.actuate(self.plan(initial));
    return self;
  }

  /**
   * This sync's plan: pure apart from reading the current attachments and the clock. The snapshot
   * is kept for CNI commands (a pod's requested addresses come from its annotations).
   */
  plan(snapshot: Snapshot, hooks?: NodeRulesInput["hooks"]): PodNetworkPlan {
    this.snapshot = snapshot;
    const interval = this.options.reconcileIntervalMs ?? 60_000;
    return planPodNetwork({
      snapshot,
      nodeName: this.options.nodeName,
      attachments: this.server.attachments(),
      routing: this.options.routing ?? "host-gw",
      vxlan: this.options.vxlan,
      clusterCIDRs: this.options.clusterCIDRs,
      masquerade: this.options.masquerade,
      hooks,
      reconcileDue: this.options.reconcilePods === true && Date.now() - this.lastReconcile >= interval,
    });
  }

  /**
   * Carries out a plan after its transaction was committed: pod CIDRs (and forwarding sysctls),
   * peer routes, and the reconcile. Runs inside the agent's sync, so it never waits for a sync:
   * released addresses only request one (their anti-spoofing entries go in the next transaction).
   */
  async actuate(plan: PodNetworkPlan): Promise<{ released: string[] }> {
    if (plan.podCIDRs.join(",") !== this.podCIDRs.join(",")) {
      await this.server.setPodCIDRs(plan.podCIDRs);
      this.podCIDRs = [...plan.podCIDRs];
      this.options.log?.(`cni: pod CIDRs now ${plan.podCIDRs.join(", ") || "(none)"}`);
    }
    // Only now: an ADD queued before the new pod CIDRs must not be refused for lacking them.
    this.server.clusterStateKnown();
    if (plan.peerRoutes) {
      const text = JSON.stringify(plan.peerRoutes);
      if (text !== this.peerPlanText) {
        await this.server.applyPeerRoutes(plan.peerRoutes);
        this.peerPlanText = text;
      }
    }
    if (!plan.reconcile) return { released: [] };
    this.lastReconcile = Date.now();
    const { released } = await this.server.reconcilePods(plan.reconcile.knownPods);
    if (released.length > 0) {
      this.options.log?.(`cni: reconcile released ${released.join(", ")}`);
      this.options.requestSync();
    }
    return { released };
  }

  /**
   * Hot swap of the IPAM plugin (e.g. after `wasmplane plugin lock` recorded a new module): the new
   * decider is admitted first; a refusal leaves the old one serving.
   */
  async reloadIpam(spec = this.options.ipam ?? "range"): Promise<void> {
    const next = await ipamDeciderFromSpec(spec, { lockPath: this.options.pluginLock });
    const previous = await this.server.setIpam(next);
    this.ipam = next;
    await previous.close?.();
  }

  /** The IPAM decider's plugin workers (none for the TypeScript `range`), for /metrics. */
  pluginWorkers(): RunningWorker[] {
    return this.ipam.workers?.() ?? [];
  }

  async close(): Promise<void> {
    await this.server.close();
    await this.ipam.close?.();
  }
}
