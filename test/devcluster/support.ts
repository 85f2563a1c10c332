// Helpers for tests against a real control plane: one dev cluster per test file in its own
// directory, kubectl on it, kubeconfigs for ServiceAccount tokens, and a loopback TCP relay the
// test can cut to take the API server away from the agent without stopping it.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Test } from "uvu";
import { findGo } from "../../runtime/devcluster/build.ts";
import {
  type Cluster,
  type StartOptions,
  startCluster,
  stopCluster,
} from "../../runtime/devcluster/cluster.ts";
import { renderKubeconfig } from "../../runtime/devcluster/kubeconfig.ts";
import { kernelMissing } from "../support/kernel.ts";

function hasCommand(name: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Why this machine cannot run a dev cluster (it needs Go to build it, and openssl), or null. */
export const devclusterMissing: string | null = !findGo()
  ? "dev cluster tests need Go >= 1.26 on PATH (to build kube-apiserver, kubectl and etcd)"
  : !hasCommand("openssl")
    ? "dev cluster tests need openssl (apt-get install openssl)"
    : null;

if (devclusterMissing && process.env.CI) throw new Error(`${devclusterMissing}; CI must run them`);

/** Registers a test that needs a dev cluster, or a skipped one when the machine cannot run one. */
export function clusterTest(suite: Test, name: string, handler: () => Promise<void> | void): void {
  if (devclusterMissing) suite.skip(name, handler);
  else suite(name, handler);
}

/** A test that needs a dev cluster and the kernel (root, nft, ip): skipped when either is missing. */
export function clusterKernelTest(suite: Test, name: string, handler: () => Promise<void> | void): void {
  if (devclusterMissing || kernelMissing) suite.skip(name, handler);
  else suite(name, handler);
}

export interface TestCluster {
  cluster: Cluster;
  dir: string;
  /** Runs kubectl as the admin and returns its stdout; the error carries stderr. */
  kubectl(args: string[], input?: string): string;
  /** Writes a kubeconfig for a bearer token (optionally another server URL) and returns its path. */
  tokenKubeconfig(name: string, token: string, server?: string): string;
  /** What the cluster printed while starting. */
  progress: string[];
  stop(): Promise<void>;
}

export async function startTestCluster(
  tag: string,
  options: Omit<StartOptions, "progress"> = {},
): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), `wpt-dc-${tag}-`));
  const progress: string[] = [];
  const say = (line: string) => {
    progress.push(line);
    // The first build takes many minutes: show that something happens.
    if (/building|compiled|built in/.test(line)) console.log(`  devcluster: ${line}`);
  };
  let cluster: Cluster;
  try {
    cluster = await startCluster(dir, { ...options, progress: say });
  } catch (err) {
    await stopCluster(dir, () => {});
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const kubectl = (args: string[], input?: string): string => {
    try {
      return execFileSync(cluster.layout.kubectl, ["--kubeconfig", cluster.layout.kubeconfig, ...args], {
        input,
        encoding: "utf8",
        timeout: 60_000,
        stdio: ["pipe", "pipe", "pipe"],
      });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`kubectl ${args.join(" ")}: ${e.stderr?.trim() || e.message}`);
    }
  };
  return {
    cluster,
    dir,
    kubectl,
    progress,
    tokenKubeconfig(name, token, server = cluster.server) {
      const path = join(dir, `${name}.kubeconfig`);
      const caPem = readFileSync(cluster.pki.caCert, "utf8");
      writeFileSync(path, renderKubeconfig({ server, caPem, user: name, credentials: { token } }));
      return path;
    },
    async stop() {
      await stopCluster(dir, () => {});
      if (!process.env.WASMPLANE_KEEP_DEVCLUSTER) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A TCP relay on 127.0.0.1 to `target`. `cut()` drops every open connection and holds new ones
 * (not refused: the client waits) until `resume()` connects them through.
 */
export class Relay {
  private server: Server | null = null;
  private readonly open = new Set<Socket>();
  private held: Socket[] = [];
  private paused = false;
  port = 0;

  constructor(private readonly target: number) {}

  start(): Promise<number> {
    const server = createServer((client) => {
      client.on("error", () => {});
      if (this.paused) this.held.push(client);
      else this.pipe(client);
    });
    this.server = server;
    return new Promise((resolve) =>
      server.listen(0, "127.0.0.1", () => {
        this.port = (server.address() as { port: number }).port;
        resolve(this.port);
      }),
    );
  }

  private pipe(client: Socket): void {
    const upstream = connect(this.target, "127.0.0.1");
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    this.open.add(client);
    client.on("close", () => this.open.delete(client));
    client.pipe(upstream).pipe(client);
  }

  cut(): void {
    this.paused = true;
    for (const s of this.open) s.destroy();
  }

  resume(): void {
    this.paused = false;
    const held = this.held;
    this.held = [];
    for (const s of held) if (!s.destroyed) this.pipe(s);
  }

  async stop(): Promise<void> {
    for (const s of [...this.open, ...this.held]) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

/** A Service with one TCP port 80 → 8080 at a fixed ClusterIP. */
export function serviceYaml(namespace: string, name: string, clusterIP: string, port = 80): string {
  return `apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${namespace}}
spec:
  clusterIP: ${clusterIP}
  ports: [{name: http, port: ${port}, targetPort: 8080, protocol: TCP}]
`;
}

/** An EndpointSlice of `service` with ready endpoints at `addresses`, port 8080. */
export function sliceYaml(namespace: string, service: string, addresses: string[], nodeName = "n1"): string {
  const endpoints = addresses.map(
    (a) => `  - addresses: [${a}]\n    conditions: {ready: true}\n    nodeName: ${nodeName}`,
  );
  return `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ${service}-1, namespace: ${namespace}, labels: {kubernetes.io/service-name: ${service}}}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:${addresses.length ? `\n${endpoints.join("\n")}` : " []"}
`;
}

/**
 * Problems other than the absent ClusterNetworkPolicy CRD (a dev cluster serves no CRDs; the agent
 * reports that kind as not served and carries on).
 */
export function unexpectedProblems(problems: string[]): string[] {
  return problems.filter((p) => !/ClusterNetworkPolicy .* is not served/.test(p));
}
