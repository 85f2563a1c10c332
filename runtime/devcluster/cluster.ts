// A dev cluster: etcd and kube-apiserver on loopback, started in the background the way envtest
// starts them, with everything they keep in one directory. Starting again after a stop reuses the
// ports, certificates and etcd data; starting a cluster whose etcd still runs starts only what is
// missing (so a test can stop and restart the API server alone).
import {
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { resolve } from "node:path";
import { type Built, ensureBinaries } from "./build.ts";
import {
  apiserverArgs,
  apiserverURL,
  type ClusterState,
  defaultServiceCIDR,
  etcdArgs,
  etcdURL,
  kubernetesServiceIP,
} from "./flags.ts";
import { get, waitReady } from "./health.ts";
import { adminKubeconfig } from "./kubeconfig.ts";
import { type ClusterLayout, type Component, clusterLayout, logFile, pidFile } from "./layout.ts";
import { ensurePki, type Pki } from "./pki.ts";
import { freePorts } from "./ports.ts";
import { type Daemon, runningPid, startDaemon, stopDaemon } from "./process.ts";

export type Progress = (line: string) => void;

export interface StartOptions {
  progress: Progress;
  /** Extra kube-apiserver flags; taken at the first start and kept for later ones. */
  apiserverArgs?: string[];
  serviceCIDR?: string;
  /** Cache root for the binaries (default: see layout.ts). */
  cache?: string;
  /** Seconds to wait for kube-apiserver's /readyz (default 120). */
  readyTimeoutSeconds?: number;
}

export interface Cluster {
  layout: ClusterLayout;
  state: ClusterState;
  pki: Pki;
  server: string;
  etcd: string;
}

function tail(path: string, lines = 30): string {
  if (!existsSync(path)) return `(no log at ${path})`;
  const text = readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  return `last lines of ${path}:\n${text}`;
}

async function loadOrCreateState(
  layout: ClusterLayout,
  built: Built,
  options: StartOptions,
): Promise<ClusterState> {
  if (existsSync(layout.state)) {
    const state = JSON.parse(readFileSync(layout.state, "utf8")) as ClusterState;
    if (state.version !== built.version)
      options.progress(
        `note: ${layout.dir} was created by ${state.version}; its binaries are now ${built.version}`,
      );
    return state;
  }
  const [etcdClientPort, etcdPeerPort, apiserverPort] = await freePorts(3);
  const state: ClusterState = {
    version: built.version,
    etcdClientPort,
    etcdPeerPort,
    apiserverPort,
    serviceCIDR: options.serviceCIDR ?? defaultServiceCIDR,
    apiserverExtraArgs: options.apiserverArgs ?? [],
  };
  writeFileSync(layout.state, `${JSON.stringify(state, null, 2)}\n`);
  return state;
}

/** DIR/bin/kubectl: a hard link to the cached binary (a copy across file systems). */
function placeKubectl(layout: ClusterLayout, built: Built): void {
  mkdirSync(layout.bin, { recursive: true });
  const tmp = `${layout.kubectl}.tmp-${process.pid}`;
  rmSync(tmp, { force: true });
  try {
    linkSync(built.path("kubectl"), tmp);
  } catch {
    copyFileSync(built.path("kubectl"), tmp);
  }
  renameSync(tmp, layout.kubectl);
}

export function daemon(
  layout: ClusterLayout,
  component: Component,
  binary = "",
  args: string[] = [],
): Daemon {
  return {
    name: component,
    binary,
    args,
    log: logFile(layout, component),
    pidFile: pidFile(layout, component),
    marker: layout.dir,
  };
}

async function startEtcd(cluster: Cluster, built: Built, progress: Progress): Promise<void> {
  const d = daemon(cluster.layout, "etcd", built.path("etcd"), etcdArgs(cluster.layout, cluster.state));
  if (runningPid(d)) return progress(`etcd already running at ${cluster.etcd}`);
  const started = Date.now();
  const pid = startDaemon(d);
  progress(`starting etcd at ${cluster.etcd} (pid ${pid}, log ${d.log})`);
  await waitReady(
    "etcd",
    async () => (await get(`${cluster.etcd}/health`)).body.includes('"health":"true"'),
    {
      timeoutMs: 60_000,
      gone: () => runningPid(d) === null,
      context: () => tail(d.log),
    },
  );
  progress(`etcd ready in ${((Date.now() - started) / 1000).toFixed(1)}s`);
}

async function startApiserver(cluster: Cluster, built: Built, options: StartOptions): Promise<void> {
  const d = daemon(
    cluster.layout,
    "kube-apiserver",
    built.path("kube-apiserver"),
    apiserverArgs(cluster.layout, cluster.state, cluster.pki),
  );
  if (runningPid(d)) return options.progress(`kube-apiserver already running at ${cluster.server}`);
  const started = Date.now();
  const pid = startDaemon(d);
  options.progress(
    `starting kube-apiserver ${built.version} at ${cluster.server} (pid ${pid}, log ${d.log})`,
  );
  await waitReady(
    "kube-apiserver",
    async () => (await get(`${cluster.server}/readyz`, cluster.pki)).status === 200,
    {
      timeoutMs: (options.readyTimeoutSeconds ?? 120) * 1000,
      gone: () => runningPid(d) === null,
      context: () => tail(d.log),
    },
  );
  options.progress(`kube-apiserver ready in ${((Date.now() - started) / 1000).toFixed(1)}s`);
}

/** Builds (first run only) and starts whatever of etcd and kube-apiserver is not running in `dir`. */
export async function startCluster(dir: string, options: StartOptions): Promise<Cluster> {
  const layout = clusterLayout(resolve(dir));
  mkdirSync(layout.dir, { recursive: true });
  const built = await ensureBinaries(options.progress, options.cache ? { cache: options.cache } : {});
  placeKubectl(layout, built);
  const state = await loadOrCreateState(layout, built, options);
  const pki = ensurePki(layout.pki, kubernetesServiceIP(state.serviceCIDR));
  const cluster: Cluster = { layout, state, pki, server: apiserverURL(state), etcd: etcdURL(state) };
  writeFileSync(layout.kubeconfig, adminKubeconfig(cluster.server, pki), { mode: 0o600 });
  await startEtcd(cluster, built, options.progress);
  await startApiserver(cluster, built, options);
  options.progress(`ready: kubectl at ${layout.kubectl}, admin kubeconfig at ${layout.kubeconfig}`);
  return cluster;
}

/** Stops the given components (default: kube-apiserver, then etcd); removes only their pid files. */
export async function stopCluster(
  dir: string,
  progress: Progress,
  components: Component[] = ["kube-apiserver", "etcd"],
): Promise<void> {
  const layout = clusterLayout(resolve(dir));
  for (const c of components) {
    const result = await stopDaemon(daemon(layout, c));
    progress(`${c}: ${result}`);
  }
}

/** Which components run in `dir`, with their pids. */
export function clusterProcesses(dir: string): Record<Component, number | null> {
  const layout = clusterLayout(resolve(dir));
  return {
    etcd: runningPid(daemon(layout, "etcd")),
    "kube-apiserver": runningPid(daemon(layout, "kube-apiserver")),
  };
}
