// The Kubernetes API source with the real @kubernetes/client-node against a list/watch server.
import { KubeConfig } from "@kubernetes/client-node";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { KubernetesSource } from "../../runtime/sources/kubernetes.ts";
import type { SourceEvent, SourceProblem } from "../../runtime/sources/source.ts";
import { Store } from "../../runtime/store/store.ts";
import { FakeApiServer } from "./fake-apiserver.ts";

const test = suite("kubernetes source");

const services = "/api/v1/services";
const slices = "/apis/discovery.k8s.io/v1/endpointslices";

function kubeConfig(server: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "test", server, skipTLSVerify: true }],
    users: [{ name: "test" }],
    contexts: [{ name: "test", cluster: "test", user: "test" }],
    currentContext: "test",
  });
  return kc;
}

function svc(name: string, port: number) {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: "default" },
    spec: {
      type: "ClusterIP",
      clusterIP: "10.96.0.10",
      clusterIPs: ["10.96.0.10"],
      ports: [{ name: "http", port, targetPort: 8080, protocol: "TCP" }],
    },
  };
}

function recorder() {
  const state = { events: [] as SourceEvent[], problems: [] as SourceProblem[], synced: 0 };
  const store = new Store();
  return {
    state,
    store,
    sink: {
      events: (e: SourceEvent[]) => {
        state.events.push(...e);
        store.apply(e);
      },
      synced: () => state.synced++,
      problems: (p: SourceProblem[]) => {
        state.problems = p;
      },
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

test("lists every kind, signals synced, then follows watch events through reconnects", async () => {
  const api = new FakeApiServer();
  const url = await api.start();
  api.upsert(services, svc("web", 80));
  api.upsert(slices, {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: "web-1", namespace: "default", labels: { "kubernetes.io/service-name": "web" } },
    addressType: "IPv4",
    endpoints: [{ addresses: ["10.244.1.2"], conditions: { ready: true } }],
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
  });
  api.upsert("/api/v1/nodes", {
    kind: "Node",
    metadata: { name: "n1" },
    status: { addresses: [{ type: "InternalIP", address: "192.168.1.10" }] },
  });
  const { state, store, sink } = recorder();
  const source = new KubernetesSource({ kubeConfig: kubeConfig(url) });
  try {
    await source.start(sink);
    assert.is(state.synced, 1);
    assert.equal(state.events.map((e) => `${e.type} ${e.kind} ${e.key}`).sort(), [
      "add EndpointSlice default/web-1",
      "add Node n1",
      "add Service default/web",
    ]);
    // Objects from the typed list calls validate like manifests do.
    const snap = store.snapshot();
    assert.equal(snap.services.get("default/web")?.ports, [
      { name: "http", protocol: "TCP", port: 80, nodePort: 0, targetPort: 8080 },
    ]);
    assert.equal(snap.endpointSlices.get("default/web-1")?.endpoints[0].addresses, ["10.244.1.2"]);
    assert.equal(snap.nodes.get("n1")?.addresses, ["192.168.1.10"]);
    assert.equal(store.rejected(), []);

    state.events.length = 0;
    api.upsert(services, svc("web", 81));
    api.upsert(services, svc("api", 80));
    await waitFor(() => state.events.length >= 2, "watch events");
    assert.equal(
      state.events.map((e) => `${e.type} ${e.key}`),
      ["update default/web", "add default/api"],
    );
    assert.is(store.snapshot().services.get("default/web")?.ports[0].port, 81);

    // The server ends the watches; the informer re-watches from its resourceVersion.
    state.events.length = 0;
    api.closeWatches();
    await new Promise((r) => setTimeout(r, 100));
    api.remove(services, svc("api", 80));
    await waitFor(() => state.events.length >= 1, "delete after re-watch");
    assert.equal(
      state.events.map((e) => `${e.type} ${e.key}`),
      ["delete default/api"],
    );
    assert.ok(
      api.requests.filter((r) => r.startsWith(`GET ${services}?`) && r.includes("watch=true")).length >= 2,
    );
  } finally {
    await source.stop();
    await api.stop();
  }
});

test("a failing list is reported and retried; synced waits for it", async () => {
  const api = new FakeApiServer();
  const url = await api.start();
  api.upsert(services, svc("web", 80));
  api.failLists = 1;
  const { state, sink } = recorder();
  const source = new KubernetesSource({ kubeConfig: kubeConfig(url), kinds: ["Service"], retryMs: 50 });
  try {
    await source.start(sink);
    assert.is(state.synced, 0, "synced before the failed list was retried");
    assert.is(state.problems.length, 1);
    assert.match(state.problems[0].message, "list failed: HTTP 500: etcdserver: request timed out");
    await waitFor(() => state.synced === 1, "synced after the retry");
    await waitFor(() => state.problems.length === 0, "the problem to clear");
    assert.equal(
      state.events.map((e) => `${e.type} ${e.key}`),
      ["add default/web"],
    );
  } finally {
    await source.stop();
    await api.stop();
  }
});

test.run();
