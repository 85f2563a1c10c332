// Where a dev cluster keeps its files. Everything lives under the cluster directory except the
// binaries, which are built once per source hash into a cache shared by every cluster.
import { homedir } from "node:os";
import { join } from "node:path";

export const components = ["etcd", "kube-apiserver"] as const;
export type Component = (typeof components)[number];

export interface ClusterLayout {
  dir: string;
  /** Ports and versions chosen at the first start, reused by later starts. */
  state: string;
  kubeconfig: string;
  bin: string;
  kubectl: string;
  pki: string;
  etcdData: string;
  logs: string;
  run: string;
}

export function clusterLayout(dir: string): ClusterLayout {
  const bin = join(dir, "bin");
  return {
    dir,
    state: join(dir, "cluster.json"),
    kubeconfig: join(dir, "kubeconfig"),
    bin,
    kubectl: join(bin, "kubectl"),
    pki: join(dir, "pki"),
    etcdData: join(dir, "etcd"),
    logs: join(dir, "logs"),
    run: join(dir, "run"),
  };
}

export function logFile(layout: ClusterLayout, component: Component): string {
  return join(layout.logs, `${component}.log`);
}

export function pidFile(layout: ClusterLayout, component: Component): string {
  return join(layout.run, `${component}.pid`);
}

/**
 * The cache root: $WASMPLANE_DEVCLUSTER_CACHE, else $XDG_CACHE_HOME/wasmplane/devcluster, else
 * ~/.cache/wasmplane/devcluster. Binaries go to <root>/<version>-<hash>/bin.
 */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.WASMPLANE_DEVCLUSTER_CACHE) return env.WASMPLANE_DEVCLUSTER_CACHE;
  const base = env.XDG_CACHE_HOME || join(env.HOME || homedir(), ".cache");
  return join(base, "wasmplane", "devcluster");
}
