// The Kubernetes source with the ClusterNetworkPolicy CRD missing: the other kinds sync, the absence
// is a source problem, and installing the CRD later is picked up. (Lives with the store tests
// because the kind is new in the store; the server is a minimal list/watch stub.)
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { KubernetesSource } from "../../runtime/sources/kubernetes.ts";
import type { SourceEvent, SourceProblem } from "../../runtime/sources/source.ts";

const test = suite("kubernetes source: optional ClusterNetworkPolicy CRD");

const cnpPath = "/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies";

function stubServer(state: { crdInstalled: boolean }) {
  const open = new Set<ServerResponse>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === cnpPath && !state.crdInstalled) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ kind: "Status", status: "Failure", reason: "NotFound", code: 404 }));
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    if (url.searchParams.get("watch") === "true") {
      res.flushHeaders();
      open.add(res);
      res.on("close", () => open.delete(res));
      return;
    }
    const items =
      url.pathname === cnpPath
        ? [
            {
              apiVersion: "policy.networking.k8s.io/v1alpha2",
              kind: "ClusterNetworkPolicy",
              metadata: { name: "guard", resourceVersion: "5" },
              spec: { tier: "Admin", priority: 1, subject: { namespaces: {} } },
            },
          ]
        : [];
    res.end(JSON.stringify({ kind: "List", apiVersion: "v1", metadata: { resourceVersion: "5" }, items }));
  });
  return {
    async start(): Promise<string> {
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
    async stop(): Promise<void> {
      for (const res of open) res.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("a missing CRD does not hold back sync; installing it later is picked up", async () => {
  const state = { crdInstalled: false };
  const server = stubServer(state);
  const url = await server.start();
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "t", server: url, skipTLSVerify: true }],
    users: [{ name: "t" }],
    contexts: [{ name: "t", cluster: "t", user: "t" }],
    currentContext: "t",
  });
  const seen = { synced: 0, problems: [] as SourceProblem[], events: [] as SourceEvent[] };
  const source = new KubernetesSource({
    kubeConfig: kc,
    kinds: ["Pod", "ClusterNetworkPolicy"],
    retryMs: 50,
  });
  try {
    await source.start({
      events: (e) => seen.events.push(...e),
      synced: () => seen.synced++,
      problems: (p) => {
        seen.problems = p;
      },
    });
    await waitFor(() => seen.synced === 1, "synced despite the missing CRD");
    assert.is(seen.problems.length, 1);
    assert.is(seen.problems[0].origin, cnpPath);
    assert.match(seen.problems[0].message, "the CRD of the Network Policy API is not installed");
    state.crdInstalled = true;
    await waitFor(() => seen.events.length === 1, "the policy after the CRD appeared");
    assert.equal(
      seen.events.map((e) => `${e.type} ${e.kind} ${e.key}`),
      ["add ClusterNetworkPolicy guard"],
    );
    await waitFor(() => seen.problems.length === 0, "the problem to clear");
    assert.is(seen.synced, 1);
  } finally {
    await source.stop();
    await server.stop();
  }
});

test.run();
