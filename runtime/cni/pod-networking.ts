// Everything the agent mounts for pod networking, behind one object: the CNI server, the node-rules
// fragment for each sync, pod-CIDR and peer-route updates from Node objects, and (when the source
// knows every pod) the periodic reconcile. The agent calls `update(snapshot)` after each store
// change and merges `fragment()` into its transaction.
import type { DesiredRule, TableFragment } from "../../nft/desired.ts";
import type { IpamDecider } from "../ipam/decider.ts";
import { ipamDeciderFromSpec } from "../ipam/select.ts";
import type { Snapshot } from "../store/objects.ts";
import { planNodeRules } from "./node-rules.ts";
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
  /** Called (and awaited) when attachments changed: re-plan and apply so `fragment()` reaches the kernel. */
  requestSync: () => Promise<void>;
  log?: (line: string) => void;
}

export class PodNetworking {
  private podCIDRs: string[] = [];
  private peerPlanText = "";
  private lastReconcile = Date.now();
  private snapshot: Snapshot | undefined;

  private constructor(
    private readonly options: PodNetworkingOptions,
    readonly server: CniServer,
    private ipam: IpamDecider,
  ) {}

  /** Starts the CNI server; pod CIDRs come from the first `update` (until then ADD answers 100). */
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
      onAttachmentsChanged: () => options.requestSync(),
      log: options.log,
    });
    self = new PodNetworking(options, server, ipam);
    self.podCIDRs = podCIDRs;
    if (initial) await self.update(initial);
    return self;
  }

  /** Follows the store: own pod CIDRs, peer routes, and the reconcile when it is due. */
  async update(snapshot: Snapshot): Promise<{ peerProblems: string[] }> {
    this.snapshot = snapshot;
    const self = snapshot.nodes.get(this.options.nodeName);
    const podCIDRs = self?.podCIDRs ?? [];
    if (podCIDRs.join(",") !== this.podCIDRs.join(",")) {
      await this.server.setPodCIDRs(podCIDRs);
      this.podCIDRs = [...podCIDRs];
      this.options.log?.(`cni: pod CIDRs now ${podCIDRs.join(", ") || "(none)"}`);
    }
    let peerProblems: string[] = [];
    const routing = this.options.routing ?? "host-gw";
    if (routing !== "none") {
      const plan: PeerRoutesPlan = planPeerRoutes({
        nodeName: this.options.nodeName,
        nodes: [...snapshot.nodes.values()],
        mode: routing,
        vxlan: this.options.vxlan,
      });
      peerProblems = plan.problems;
      const text = JSON.stringify(plan);
      if (text !== this.peerPlanText) {
        await this.server.applyPeerRoutes(plan);
        this.peerPlanText = text;
      }
    }
    const interval = this.options.reconcileIntervalMs ?? 60_000;
    if (this.options.reconcilePods && Date.now() - this.lastReconcile >= interval) {
      this.lastReconcile = Date.now();
      const { released } = await this.server.reconcilePods(new Set(snapshot.pods.keys()));
      if (released.length > 0) this.options.log?.(`cni: reconcile released ${released.join(", ")}`);
    }
    return { peerProblems };
  }

  /**
   * Hot swap of the IPAM plugin (e.g. after `wasmplane plugin lock` recorded a new module): the new
   * decider is admitted first; a refusal leaves the old one serving.
   */
  async reloadIpam(spec = this.options.ipam ?? "range"): Promise<void> {
    const next = await ipamDeciderFromSpec(spec, { lockPath: this.options.pluginLock });
    const previous = await this.server.setIpam(next);
    this.ipam = next;
    await (previous as { close?: () => Promise<void> }).close?.();
  }

  /** The node-rules fragment for the next transaction. */
  fragment(hooks?: { egress?: DesiredRule[]; ingress?: DesiredRule[] }): TableFragment {
    return planNodeRules({
      attachments: this.server.attachments(),
      podCIDRs: this.podCIDRs,
      clusterCIDRs: this.options.clusterCIDRs,
      masquerade: this.options.masquerade,
      hooks,
    });
  }

  async close(): Promise<void> {
    await this.server.close();
    await (this.ipam as { close?: () => Promise<void> }).close?.();
  }
}
