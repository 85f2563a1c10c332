// The Kubernetes API source: one @kubernetes/client-node informer (list, then watch from the list's
// resourceVersion, re-list on 410 Gone) per watched kind. `synced` fires once every kind has been
// listed. The library stops an informer on any other error; we restart it with backoff and report
// the error as a source problem until it recovers.
// A kind served by a CRD (ClusterNetworkPolicy) is optional: when the API server does not serve it
// (404), the kind counts as listed-empty for `synced`, the absence is a source problem, and the
// informer keeps retrying with backoff so that installing the CRD later is picked up.
// The library is imported when the source starts, not with this module: loading it costs about
// 130 MiB of RSS, which a standalone agent (manifest directory) should not pay.
import type { KubeConfig, KubernetesListObject, KubernetesObject } from "@kubernetes/client-node";
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

interface Resource {
  kind: WatchedKind;
  /** The collection path the informer watches. */
  path: string;
  /** Served by a CRD that may be missing: what to tell the operator when the API server answers 404. */
  optional?: string;
  list(kc: KubeConfig, lib: ClientLibrary): () => Promise<KubernetesListObject<KubernetesObject>>;
}

type Lister = () => Promise<KubernetesListObject<KubernetesObject>>;

export const watchedResources: Resource[] = [
  {
    kind: "Service",
    path: "/api/v1/services",
    list: (kc, lib) => {
      const api = kc.makeApiClient(lib.CoreV1Api);
      return (() => api.listServiceForAllNamespaces()) as Lister;
    },
  },
  {
    kind: "EndpointSlice",
    path: "/apis/discovery.k8s.io/v1/endpointslices",
    list: (kc, lib) => {
      const api = kc.makeApiClient(lib.DiscoveryV1Api);
      return (() => api.listEndpointSliceForAllNamespaces()) as Lister;
    },
  },
  {
    kind: "Node",
    path: "/api/v1/nodes",
    list: (kc, lib) => {
      const api = kc.makeApiClient(lib.CoreV1Api);
      return (() => api.listNode()) as Lister;
    },
  },
  {
    kind: "Namespace",
    path: "/api/v1/namespaces",
    list: (kc, lib) => {
      const api = kc.makeApiClient(lib.CoreV1Api);
      return (() => api.listNamespace()) as Lister;
    },
  },
  {
    kind: "Pod",
    path: "/api/v1/pods",
    list: (kc, lib) => {
      const api = kc.makeApiClient(lib.CoreV1Api);
      return (() => api.listPodForAllNamespaces()) as Lister;
    },
  },
  {
    kind: "NetworkPolicy",
    path: "/apis/networking.k8s.io/v1/networkpolicies",
    list: (kc, lib) => {
      const api = kc.makeApiClient(lib.NetworkingV1Api);
      return (() => api.listNetworkPolicyForAllNamespaces()) as Lister;
    },
  },
  {
    kind: "ClusterNetworkPolicy",
    path: "/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies",
    optional:
      "ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2) is not served: the CRD of the Network Policy API is not installed",
    list: (kc, lib) => {
      const api = kc.makeApiClient(lib.CustomObjectsApi);
      return (() =>
        api.listClusterCustomObject({
          group: "policy.networking.k8s.io",
          version: "v1alpha2",
          plural: "clusternetworkpolicies",
        })) as Lister;
    },
  },
];

function isNotFound(err: unknown): boolean {
  const e = err as { code?: unknown; statusCode?: unknown } | null;
  return e?.code === 404 || e?.statusCode === 404;
}

export interface KubernetesSourceOptions {
  kubeConfig: KubeConfig;
  /** Only these kinds (default: all watched kinds). */
  kinds?: WatchedKind[];
  /** First restart delay after an informer error (ms); doubles up to maxRetryMs. */
  retryMs?: number;
  maxRetryMs?: number;
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

export class KubernetesSource implements Source {
  readonly description: string;
  private readonly informers: { resource: Resource; informer: ReturnType<ClientLibrary["makeInformer"]> }[] =
    [];
  private readonly problems = new Map<WatchedKind, SourceProblem>();
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private stopped = false;

  constructor(private readonly options: KubernetesSourceOptions) {
    this.description = `kubernetes ${options.kubeConfig.getCurrentCluster()?.server ?? "(no cluster)"}`;
  }

  async start(sink: SourceSink): Promise<void> {
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
    const report = () => sink.problems([...this.problems.values()]);

    for (const resource of watchedResources.filter((r) => kinds.includes(r.kind))) {
      const informer = lib.makeInformer(
        this.options.kubeConfig,
        resource.path,
        resource.list(this.options.kubeConfig, lib),
      );
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
      informer.on("add", emit("add"));
      informer.on("update", emit("update"));
      informer.on("delete", emit("delete"));
      let failures = 0;
      informer.on("connect", () => {
        // A (re)connect follows a successful list or watch end; the error, if any, is over.
        if (this.problems.delete(resource.kind)) report();
      });
      informer.on("error", (err: unknown) => {
        if (this.stopped) return;
        failures++;
        const delay = Math.min(
          this.options.maxRetryMs ?? 30_000,
          (this.options.retryMs ?? 1000) * 2 ** (failures - 1),
        );
        const message =
          err instanceof Error ? err.message : String((err as { message?: string })?.message ?? err);
        const missingCrd = resource.optional !== undefined && isNotFound(err);
        this.problems.set(resource.kind, {
          origin: `${resource.path}`,
          message: missingCrd
            ? `${resource.optional}; the other kinds are unaffected (retrying with backoff)`
            : `list/watch failed (retrying with backoff): ${message}`,
        });
        // An absent CRD is an empty listing, not a reason to hold back every other kind.
        if (missingCrd) markListed(resource.kind);
        report();
        const timer = setTimeout(() => {
          this.retryTimers.delete(timer);
          if (!this.stopped)
            void this.startInformer(informer, resource.kind, markListed, () => (failures = 0));
        }, delay);
        this.retryTimers.add(timer);
      });
      this.informers.push({ resource, informer });
    }
    await Promise.all(
      this.informers.map(({ informer, resource }) =>
        this.startInformer(informer, resource.kind, markListed, () => {}),
      ),
    );
  }

  /** start() resolves once the list has been delivered and the watch opened, or after an error was reported. */
  private async startInformer(
    informer: ReturnType<ClientLibrary["makeInformer"]>,
    kind: WatchedKind,
    markListed: (kind: WatchedKind) => void,
    onSuccess: () => void,
  ): Promise<void> {
    let failed = false;
    const onError = () => {
      failed = true;
    };
    informer.on("error", onError);
    try {
      await informer.start();
    } catch {
      failed = true;
    } finally {
      informer.off("error", onError);
    }
    if (!failed && !this.stopped) {
      onSuccess();
      markListed(kind);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.retryTimers) clearTimeout(t);
    await Promise.all(this.informers.map(({ informer }) => informer.stop()));
  }
}

/**
 * Loads a kubeconfig (the file, or $KUBECONFIG / ~/.kube/config / in-cluster) importing the client
 * library only now, so that callers need no static import of it.
 */
export async function loadKubeConfig(file?: string): Promise<KubeConfig> {
  const { KubeConfig } = await import("@kubernetes/client-node");
  const kubeConfig = new KubeConfig();
  const what = file ? `--kubeconfig ${file}` : "kubeconfig ($KUBECONFIG, ~/.kube/config or in-cluster)";
  try {
    if (file) kubeConfig.loadFromFile(file);
    else kubeConfig.loadFromDefault();
  } catch (err) {
    throw new Error(`${what}: ${(err as Error).message}`);
  }
  if (!kubeConfig.getCurrentCluster()) throw new Error(`${what}: no current cluster`);
  return kubeConfig;
}
