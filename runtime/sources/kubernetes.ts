// The Kubernetes API source: one @kubernetes/client-node ListWatch (list, then watch from the list's
// resourceVersion, re-list on 410 Gone) per watched kind. `synced` fires once every kind has been
// listed. Lists are paginated (kubernetes-requests.ts), watches ask for bookmarks, and Services and
// EndpointSlices are asked for with kube-proxy's label selector (no Services of other proxies, no
// headless ones). The library stops an informer on any other error; we restart it with jittered
// backoff and report the error as a source problem until a list or watch succeeds again. The problem
// text stays the same while the failure does (one log line when it starts, one when it ends), and an
// unreachable server is one problem, not one per kind.
// A kind served by a CRD (ClusterNetworkPolicy) is optional: when the API server does not serve it
// (404), the kind counts as listed-empty for `synced`, the absence is a source problem, and the
// informer keeps retrying with backoff so that installing the CRD later is picked up.
// The library is imported when the source starts, not with this module: loading it costs about
// 130 MiB of RSS, which a standalone agent (manifest directory) should not pay.
import type { KubeConfig, KubernetesObject, ListWatch } from "@kubernetes/client-node";
import { proxiedLabelSelector } from "../store/validate-service.ts";
import {
  bookmarkingWatch,
  describeFailure,
  type FailureReason,
  listAllPages,
  type ObjectList,
  type PageLister,
  retryDelayMs,
  tagVerb,
} from "./kubernetes-requests.ts";
import {
  objectKey,
  type RawObject,
  type Source,
  type SourceEvent,
  type SourceProblem,
  type SourceSink,
  type WatchedKind,
} from "./source.ts";

type ClientLibrary = typeof import("@kubernetes/client-node");
type Page = Parameters<PageLister>[0] & { labelSelector?: string };

interface Resource {
  kind: WatchedKind;
  /** The collection path the informer watches. */
  path: string;
  /** The plural resource and API group, for RBAC hints ("" is the core group). */
  resource: string;
  group: string;
  /** Served by a CRD that may be missing: what to tell the operator when the API server answers 404. */
  optional?: string;
  /** Only objects matching this label selector (list and watch). */
  labelSelector?: string;
  list(kc: KubeConfig, lib: ClientLibrary): (page: Page) => Promise<ObjectList>;
}

export const watchedResources: Resource[] = [
  {
    kind: "Service",
    path: "/api/v1/services",
    resource: "services",
    group: "",
    labelSelector: proxiedLabelSelector,
    list: (kc, lib) => {
      const api = kc.makeApiClient(lib.CoreV1Api);
      return (page) => api.listServiceForAllNamespaces(page) as Promise<ObjectList>;
    },
  },
  {
    kind: "EndpointSlice",
    path: "/apis/discovery.k8s.io/v1/endpointslices",
    resource: "endpointslices",
    group: "discovery.k8s.io",
    labelSelector: proxiedLabelSelector,
    list: (kc, lib) => {
      const api = kc.makeApiClient(lib.DiscoveryV1Api);
      return (page) => api.listEndpointSliceForAllNamespaces(page) as Promise<ObjectList>;
    },
  },
  {
    kind: "Node",
    path: "/api/v1/nodes",
    resource: "nodes",
    group: "",
    list: (kc, lib) => {
      const api = kc.makeApiClient(lib.CoreV1Api);
      return (page) => api.listNode(page) as Promise<ObjectList>;
    },
  },
  {
    kind: "Namespace",
    path: "/api/v1/namespaces",
    resource: "namespaces",
    group: "",
    list: (kc, lib) => {
      const api = kc.makeApiClient(lib.CoreV1Api);
      return (page) => api.listNamespace(page) as Promise<ObjectList>;
    },
  },
  {
    kind: "Pod",
    path: "/api/v1/pods",
    resource: "pods",
    group: "",
    list: (kc, lib) => {
      const api = kc.makeApiClient(lib.CoreV1Api);
      return (page) => api.listPodForAllNamespaces(page) as Promise<ObjectList>;
    },
  },
  {
    kind: "NetworkPolicy",
    path: "/apis/networking.k8s.io/v1/networkpolicies",
    resource: "networkpolicies",
    group: "networking.k8s.io",
    list: (kc, lib) => {
      const api = kc.makeApiClient(lib.NetworkingV1Api);
      return (page) => api.listNetworkPolicyForAllNamespaces(page) as Promise<ObjectList>;
    },
  },
  {
    kind: "ClusterNetworkPolicy",
    path: "/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies",
    resource: "clusternetworkpolicies",
    group: "policy.networking.k8s.io",
    optional:
      "ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2) is not served: the CRD of the Network Policy API is not installed",
    list: (kc, lib) => {
      const api = kc.makeApiClient(lib.CustomObjectsApi);
      return (page) =>
        api.listClusterCustomObject({
          group: "policy.networking.k8s.io",
          version: "v1alpha2",
          plural: "clusternetworkpolicies",
          ...page,
        }) as Promise<ObjectList>;
    },
  },
];

export interface KubernetesSourceOptions {
  kubeConfig: KubeConfig;
  /** Only these kinds (default: all watched kinds). */
  kinds?: WatchedKind[];
  /** First restart delay after an informer error (ms); doubles up to maxRetryMs, with jitter. */
  retryMs?: number;
  maxRetryMs?: number;
  /** Objects per list page (default 500, as client-go). */
  pageSize?: number;
  /** For tests: the jitter's random source. */
  random?: () => number;
}

/** List items lack kind/apiVersion; watch events carry them. Either way the kind is the resource's. */
function toRaw(kind: WatchedKind, obj: KubernetesObject): RawObject | null {
  const metadata = obj.metadata;
  if (!metadata?.name) return null;
  return {
    ...(obj as Record<string, unknown>),
    kind,
    metadata: { ...metadata, name: metadata.name },
  } as RawObject;
}

/**
 * client-node's last resort when it finds no kubeconfig: an unauthenticated http://localhost:8080.
 * Nothing answers there on a real node; the agent would only retry forever, so it refuses to start.
 */
export function isClientFallbackConfig(kubeConfig: KubeConfig): boolean {
  const cluster = kubeConfig.getCurrentCluster();
  return cluster?.name === "cluster" && cluster.server === "http://localhost:8080";
}

/** A failure as the operator reads it: what, where, and for RBAC refusals which grant is missing. */
function problemFor(resource: Resource, reason: FailureReason, server: string): SourceProblem {
  if (reason.status === undefined)
    return {
      origin: `kubernetes API ${server}`,
      message: `unreachable: ${reason.text} (retrying with backoff; rules stay as last synced)`,
    };
  const group = resource.group ? `${resource.resource}.${resource.group}` : resource.resource;
  const hint =
    reason.status === 403
      ? `; the agent's ClusterRole must grant list and watch on ${group}`
      : reason.status === 401
        ? "; the agent's credentials were refused"
        : "";
  return {
    origin: resource.path,
    message: `${reason.verb ?? "list/watch"} failed: ${reason.text}${hint} (retrying with backoff)`,
  };
}

interface Informer {
  resource: Resource;
  informer: ListWatch<KubernetesObject>;
  failures: number;
}

export class KubernetesSource implements Source {
  readonly description: string;
  private readonly server: string;
  private readonly informers: Informer[] = [];
  /** The current failure of each kind; reported grouped, so one unreachable server is one problem. */
  private readonly failures = new Map<WatchedKind, SourceProblem>();
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private stopped = false;
  private sink: SourceSink | null = null;

  constructor(private readonly options: KubernetesSourceOptions) {
    this.server = options.kubeConfig.getCurrentCluster()?.server ?? "(no cluster)";
    this.description = `kubernetes ${this.server}`;
    if (isClientFallbackConfig(options.kubeConfig))
      throw new Error(
        "no Kubernetes API server configured: no $KUBECONFIG, no ~/.kube/config and not in a cluster " +
          "(no service account token); give --kubeconfig FILE or --apiserver URL",
      );
  }

  async start(sink: SourceSink): Promise<void> {
    this.sink = sink;
    const lib = await import("@kubernetes/client-node");
    const kinds = this.options.kinds ?? watchedResources.map((r) => r.kind);
    const listed = new Set<WatchedKind>();
    let syncedSent = false;
    const markListed = (kind: WatchedKind) => {
      listed.add(kind);
      if (!syncedSent && listed.size === kinds.length) {
        syncedSent = true;
        sink.synced();
      }
    };
    for (const resource of watchedResources.filter((r) => kinds.includes(r.kind)))
      this.informers.push(this.makeInformer(lib, resource, sink, markListed));
    await Promise.all(this.informers.map((entry) => this.startInformer(entry, markListed)));
  }

  private makeInformer(
    lib: ClientLibrary,
    resource: Resource,
    sink: SourceSink,
    markListed: (kind: WatchedKind) => void,
  ): Informer {
    const { kubeConfig } = this.options;
    const listPage = resource.list(kubeConfig, lib);
    const selector = resource.labelSelector ? { labelSelector: resource.labelSelector } : {};
    const entry = { resource, failures: 0 } as Informer;
    const recovered = () => {
      entry.failures = 0;
      this.clearFailure(resource.kind);
    };
    const list = async () => {
      const result = await listAllPages(
        (page) => listPage({ ...page, ...selector }),
        this.options.pageSize,
      ).catch((err: unknown) => Promise.reject(tagVerb(err, "list")));
      recovered();
      return result;
    };
    const watch = bookmarkingWatch(new lib.Watch(kubeConfig), recovered, this.options.random);
    entry.informer = new lib.ListWatch(resource.path, watch, list, false, resource.labelSelector);
    const emit = (type: SourceEvent["type"]) => (obj: KubernetesObject) => {
      const raw = toRaw(resource.kind, obj);
      if (raw)
        sink.events([
          {
            type,
            kind: resource.kind,
            key: objectKey(resource.kind, raw.metadata),
            object: raw,
          } as SourceEvent,
        ]);
    };
    entry.informer.on("add", emit("add"));
    entry.informer.on("update", emit("update"));
    entry.informer.on("delete", emit("delete"));
    entry.informer.on("error", (err: unknown) => this.onError(entry, err, markListed));
    return entry;
  }

  private onError(entry: Informer, err: unknown, markListed: (kind: WatchedKind) => void): void {
    if (this.stopped) return;
    const { resource } = entry;
    entry.failures++;
    const missingCrd = resource.optional !== undefined && describeFailure(err).status === 404;
    this.setFailure(
      resource.kind,
      missingCrd
        ? {
            origin: resource.path,
            message: `${resource.optional}; the other kinds are unaffected (retrying with backoff)`,
          }
        : problemFor(resource, describeFailure(err), this.server),
    );
    // An absent CRD is an empty listing, not a reason to hold back every other kind.
    if (missingCrd) markListed(resource.kind);
    const delay = retryDelayMs(
      entry.failures,
      this.options.retryMs ?? 1000,
      this.options.maxRetryMs ?? 30_000,
      this.options.random,
    );
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      if (!this.stopped) void this.startInformer(entry, markListed);
    }, delay);
    this.retryTimers.add(timer);
  }

  private setFailure(kind: WatchedKind, problem: SourceProblem): void {
    const old = this.failures.get(kind);
    if (old?.origin === problem.origin && old.message === problem.message) return;
    this.failures.set(kind, problem);
    this.report();
  }

  private clearFailure(kind: WatchedKind): void {
    if (this.failures.delete(kind)) this.report();
  }

  /** One problem per distinct failure: kinds failing the same way share it. */
  private report(): void {
    const unique = new Map<string, SourceProblem>();
    for (const p of this.failures.values()) unique.set(`${p.origin}\n${p.message}`, p);
    this.sink?.problems([...unique.values()]);
  }

  /** start() resolves once the list has been delivered and the watch opened, or after an error was reported. */
  private async startInformer(entry: Informer, markListed: (kind: WatchedKind) => void): Promise<void> {
    let failed = false;
    const onError = () => {
      failed = true;
    };
    entry.informer.on("error", onError);
    try {
      await entry.informer.start();
    } catch {
      failed = true;
    } finally {
      entry.informer.off("error", onError);
    }
    if (!failed && !this.stopped) markListed(entry.resource.kind);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.retryTimers) clearTimeout(t);
    await Promise.all(this.informers.map(({ informer }) => informer.stop()));
  }
}

/**
 * Loads a kubeconfig (the file, or $KUBECONFIG / ~/.kube/config / in-cluster) importing the client
 * library only now, so that callers need no static import of it. `server` (the agent's --apiserver)
 * replaces the current cluster's URL; credentials and CA stay the kubeconfig's.
 */
export async function loadKubeConfig(file?: string, server?: string): Promise<KubeConfig> {
  const { KubeConfig } = await import("@kubernetes/client-node");
  const kubeConfig = new KubeConfig();
  const what = file ? `--kubeconfig ${file}` : "kubeconfig ($KUBECONFIG, ~/.kube/config or in-cluster)";
  try {
    if (file) kubeConfig.loadFromFile(file);
    else kubeConfig.loadFromDefault();
  } catch (err) {
    throw new Error(`${what}: ${(err as Error).message}`);
  }
  const current = kubeConfig.getCurrentCluster();
  if (!current) throw new Error(`${what}: no current cluster`);
  // In-cluster, the server is the `kubernetes` Service's ClusterIP: without kube-proxy, only the
  // agent's own rules make it reachable, so a node that boots without them must be told the real one.
  if (server)
    kubeConfig.clusters = kubeConfig.clusters.map((c) => (c.name === current.name ? { ...c, server } : c));
  return kubeConfig;
}
