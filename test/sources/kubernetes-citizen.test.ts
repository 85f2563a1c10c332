// The Kubernetes source as a good API citizen: paginated lists, watches with bookmarks and a
// jittered timeout, kube-proxy's label selector, jittered retries, failures described the same way on
// every retry (one log line while the API server is down, one when it is back), and a clear refusal
// of client-node's silent localhost:8080 fallback. Faults a real API server cannot be made to produce
// on demand (an outage at a chosen moment, a bookmark, an expired continue token) come from small
// servers here and from test/sources/fake-apiserver.ts.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { connect, createServer as createTcpServer, type Socket, type Server as TcpServer } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Agent } from "../../runtime/agent/agent.ts";
import type { Dataplane, ServicePlanner } from "../../runtime/agent/dependencies.ts";
import { builtinLbPlanner } from "../../runtime/lb/plan.ts";
import { KubernetesSource } from "../../runtime/sources/kubernetes.ts";
import {
  describeFailure,
  listAllPages,
  type ObjectList,
  retryDelayMs,
} from "../../runtime/sources/kubernetes-requests.ts";
import type { SourceEvent, SourceProblem } from "../../runtime/sources/source.ts";
import { FakeApiServer } from "./fake-apiserver.ts";

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

async function waitFor(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const svc = (name: string, rv = "1") => ({
  metadata: { name, namespace: "default", resourceVersion: rv },
  spec: { clusterIP: "10.96.0.10", ports: [{ port: 80 }] },
});

const pages = suite("paginated lists");

const list = (names: string[], rv: string, cont?: string): ObjectList =>
  ({
    apiVersion: "v1",
    kind: "ServiceList",
    metadata: { resourceVersion: rv, ...(cont ? { _continue: cont } : {}) },
    items: names.map((n) => svc(n)),
  }) as ObjectList;

pages("follows continue tokens and returns every item with the snapshot's resourceVersion", async () => {
  const asked: unknown[] = [];
  const result = await listAllPages(async (page) => {
    asked.push(page);
    if (!page._continue) return list(["a", "b"], "7", "t1");
    if (page._continue === "t1") return list(["c", "d"], "7", "t2");
    return list(["e"], "7");
  }, 2);
  assert.equal(
    result.items.map((i) => i.metadata?.name),
    ["a", "b", "c", "d", "e"],
  );
  assert.is(result.metadata?.resourceVersion, "7");
  assert.equal(asked, [{ limit: 2 }, { limit: 2, _continue: "t1" }, { limit: 2, _continue: "t2" }]);
});

pages("a raw list's `continue` (custom objects) is followed too", async () => {
  let calls = 0;
  const result = await listAllPages(async (page) => {
    calls++;
    return page._continue
      ? list(["b"], "3")
      : ({ ...list(["a"], "3"), metadata: { resourceVersion: "3", continue: "x" } } as ObjectList);
  }, 1);
  assert.is(calls, 2);
  assert.is(result.items.length, 2);
});

pages("an expired continue token (410) starts over as one unpaginated list", async () => {
  const asked: unknown[] = [];
  const result = await listAllPages(async (page) => {
    asked.push(page);
    if (page.limit === undefined) return list(["a", "b", "c"], "9");
    if (page._continue) throw Object.assign(new Error("Gone"), { code: 410 });
    return list(["a"], "8", "t1");
  }, 1);
  assert.equal(
    result.items.map((i) => i.metadata?.name),
    ["a", "b", "c"],
  );
  assert.equal(asked, [{ limit: 1 }, { limit: 1, _continue: "t1" }, {}]);
});

pages("another error on a later page is the list's error", async () => {
  let error: Error | null = null;
  try {
    await listAllPages(async (page) => {
      if (page._continue) throw Object.assign(new Error("boom"), { code: 500 });
      return list(["a"], "1", "t");
    }, 1);
  } catch (err) {
    error = err as Error;
  }
  assert.match(error?.message ?? "", /boom/);
});

const retries = suite("retry delays and failure texts");

retries("the delay doubles up to the cap and is jittered between half and all of it", () => {
  assert.equal(
    [1, 2, 3, 4, 10].map((n) => retryDelayMs(n, 1000, 5000, () => 1)),
    [1000, 2000, 4000, 5000, 5000],
  );
  assert.equal(
    [1, 2, 3].map((n) => retryDelayMs(n, 1000, 5000, () => 0)),
    [500, 1000, 2000],
  );
  const spread = new Set(Array.from({ length: 20 }, () => retryDelayMs(3, 1000, 30_000)));
  assert.ok(spread.size > 1, "no jitter");
  for (const d of spread) assert.ok(d >= 2000 && d <= 4000, `${d} outside [2000, 4000]`);
});

retries("a connection failure is described without the request path, so every kind reads the same", () => {
  const a = new Error(
    "request to http://127.0.0.1:6443/api/v1/services?limit=500 failed, reason: connect ECONNREFUSED 127.0.0.1:6443",
  );
  const b = new Error(
    "request to http://127.0.0.1:6443/api/v1/nodes?limit=500 failed, reason: connect ECONNREFUSED 127.0.0.1:6443",
  );
  assert.equal(describeFailure(a), { text: "connect ECONNREFUSED 127.0.0.1:6443" });
  assert.equal(describeFailure(a), describeFailure(b));
});

retries("an API error keeps its status and the Status message, not the headers", () => {
  const err = Object.assign(
    new Error("HTTP-Code: 403\nMessage: Forbidden\nBody: ...\nHeaders: {date: now}"),
    {
      code: 403,
      body: JSON.stringify({
        kind: "Status",
        message: 'services is forbidden: User "x" cannot list resource',
      }),
    },
  );
  assert.equal(describeFailure(err), {
    status: 403,
    text: 'HTTP 403: services is forbidden: User "x" cannot list resource',
  });
  assert.equal(describeFailure(Object.assign(new Error("Gone"), { statusCode: 410 })), {
    status: 410,
    text: "HTTP 410: Gone",
  });
});

const wire = suite("requests on the wire");

wire(
  "Services and EndpointSlices are listed and watched with kube-proxy's selector; watches ask for bookmarks",
  async () => {
    const api = new FakeApiServer();
    const url = await api.start();
    const source = new KubernetesSource({
      kubeConfig: kubeConfig(url),
      kinds: ["Service", "EndpointSlice", "Node"],
      random: () => 0.5,
    });
    let synced = false;
    try {
      await source.start({ events: () => {}, synced: () => (synced = true), problems: () => {} });
      await waitFor(() => synced, "synced");
      await waitFor(() => api.requests.filter((r) => r.includes("watch=true")).length >= 3, "three watches");
      const selector = "!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless";
      const param = (request: string, name: string) =>
        new URL(request.slice(4), "http://x").searchParams.get(name);
      for (const path of ["/api/v1/services", "/apis/discovery.k8s.io/v1/endpointslices"]) {
        const requests = api.requests.filter((r) => r.startsWith(`GET ${path}?`));
        const listReq = requests.find((r) => !r.includes("watch=true")) ?? "";
        const watchReq = requests.find((r) => r.includes("watch=true")) ?? "";
        assert.is(param(listReq, "limit"), "500", listReq);
        assert.is(param(listReq, "labelSelector"), selector, listReq);
        assert.is(param(watchReq, "labelSelector"), selector, watchReq);
      }
      const nodeWatch =
        api.requests.find((r) => r.startsWith("GET /api/v1/nodes?") && r.includes("watch=true")) ?? "";
      assert.ok(!nodeWatch.includes("labelSelector"), nodeWatch);
      assert.ok(nodeWatch.includes("allowWatchBookmarks=true"), nodeWatch);
      assert.ok(nodeWatch.includes("timeoutSeconds=450"), nodeWatch);
    } finally {
      await source.stop();
      await api.stop();
    }
  },
);

/** Lists Services in pages of the client's limit, and ends each watch with a BOOKMARK. */
function pagingServer(names: string[]) {
  const requests: string[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? "/", "http://x");
    requests.push(`${u.pathname}${u.search}`);
    res.writeHead(200, { "content-type": "application/json" });
    if (u.searchParams.get("watch") === "true") {
      const rv = Number(u.searchParams.get("resourceVersion"));
      res.end(
        `${JSON.stringify({ type: "BOOKMARK", object: { kind: "Service", metadata: { resourceVersion: String(rv + 10) } } })}\n`,
      );
      return;
    }
    const limit = Number(u.searchParams.get("limit") ?? names.length);
    const from = Number(u.searchParams.get("continue") ?? "0");
    const next = from + limit < names.length ? String(from + limit) : undefined;
    res.end(
      JSON.stringify({
        kind: "ServiceList",
        apiVersion: "v1",
        metadata: { resourceVersion: "100", ...(next ? { continue: next } : {}) },
        items: names.slice(from, from + limit).map((n) => svc(n, "50")),
      }),
    );
  });
  return { server, requests };
}

wire(
  "a list comes in pages; a bookmark moves the next watch's resourceVersion on, without a relist",
  async () => {
    const names = ["a", "b", "c", "d", "e"];
    const { server, requests } = pagingServer(names);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const events: SourceEvent[] = [];
    const source = new KubernetesSource({ kubeConfig: kubeConfig(url), kinds: ["Service"], pageSize: 2 });
    try {
      await source.start({ events: (e) => events.push(...e), synced: () => {}, problems: () => {} });
      await waitFor(() => requests.filter((r) => r.includes("watch=true")).length >= 3, "three watches");
      assert.equal(
        events.map((e) => e.key),
        names.map((n) => `default/${n}`),
      );
      const lists = requests.filter((r) => !r.includes("watch=true"));
      assert.is(lists.length, 3, `one list in three pages: ${lists.join(" ")}`);
      assert.ok(lists[1].includes("continue=2") && lists[2].includes("continue=4"), lists.join(" "));
      const watchRVs = requests
        .filter((r) => r.includes("watch=true"))
        .slice(0, 3)
        .map((r) => new URL(r, "http://x").searchParams.get("resourceVersion"));
      assert.equal(watchRVs, ["100", "110", "120"]);
    } finally {
      await source.stop();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  },
);

const outage = suite("an API server outage in the log");

/** A TCP front for the fake API server that can be taken down (connection refused) and brought back. */
class Front {
  private server: TcpServer | null = null;
  private readonly sockets = new Set<Socket>();
  port = 0;
  constructor(private readonly backendPort: number) {}
  async up(): Promise<void> {
    const server = createTcpServer((client) => {
      const backend = connect(this.backendPort, "127.0.0.1");
      for (const s of [client, backend]) {
        this.sockets.add(s);
        s.on("error", () => {});
        s.on("close", () => this.sockets.delete(s));
      }
      client.pipe(backend).pipe(client);
    });
    await new Promise<void>((r) => server.listen(this.port, "127.0.0.1", () => r()));
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }
  async down(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server = null;
  }
}

const planner: ServicePlanner = {
  lbRequests: () => [],
  plan: () => ({
    fragment: { chains: new Map(), sets: new Map() },
    problems: [],
    stats: { services: 0, servicePorts: 0, endpoints: 0 },
  }),
  staleUdpEndpoints: () => [],
  invalidateLbPlans: () => {},
};

const dataplane: Dataplane = {
  readBack: async () => null,
  diff: (_applied, desired) => ({ tx: { size: 0 } as never, applied: desired }),
  apply: async () => ({ bytes: 0, durationMs: 0 }),
  deleteUdpConntrack: async () => {},
};

outage("one problem line while the server is unreachable, one resolved line when it is back", async () => {
  const api = new FakeApiServer();
  const backend = Number(new URL(await api.start()).port);
  api.upsert("/api/v1/services", svc("web"));
  const front = new Front(backend);
  await front.up();
  await front.down(); // the agent starts while nothing listens on the API server's port
  const lines: string[] = [];
  const agent = new Agent({
    nodeName: "n1",
    minSyncIntervalMs: 0,
    resyncIntervalMs: 0,
    source: new KubernetesSource({
      kubeConfig: kubeConfig(`http://127.0.0.1:${front.port}`),
      kinds: ["Service", "EndpointSlice", "Node"],
      retryMs: 10,
      maxRetryMs: 40,
    }),
    planner,
    lbPlanner: builtinLbPlanner,
    dataplane,
    log: (l) => lines.push(l),
  });
  const about = (prefix: string) => lines.filter((l) => l.startsWith(prefix) && l.includes("kubernetes API"));
  try {
    await agent.start();
    // Dozens of retries of three kinds happen in this time.
    await new Promise((r) => setTimeout(r, 600));
    assert.is(about("problem:").length, 1, lines.join("\n"));
    assert.match(about("problem:")[0], /unreachable: connect ECONNREFUSED 127\.0\.0\.1:\d+/);
    assert.is(about("resolved:").length, 0, lines.join("\n"));
    assert.equal(agent.status().syncs.total, 0, "synced without a listing");

    await front.up();
    await waitFor(() => agent.status().sourceSynced, "the listing after the outage");
    await waitFor(() => about("resolved:").length === 1, "one resolved line");
    await new Promise((r) => setTimeout(r, 100));
    assert.is(about("problem:").length, 1, lines.join("\n"));
    assert.is(about("resolved:").length, 1, lines.join("\n"));
    assert.is(agent.store.counts().Service, 1);
  } finally {
    await agent.stop();
    await front.down();
    await api.stop();
  }
});

outage("a refused permission names the resource and the grant to add", async () => {
  const server = createServer((req, res) => {
    res.writeHead(req.url?.startsWith("/apis/discovery") ? 403 : 200, { "content-type": "application/json" });
    res.end(
      req.url?.startsWith("/apis/discovery")
        ? JSON.stringify({
            kind: "Status",
            code: 403,
            message: "endpointslices.discovery.k8s.io is forbidden",
          })
        : JSON.stringify({ kind: "List", metadata: { resourceVersion: "1" }, items: [] }),
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  let problems: SourceProblem[] = [];
  const source = new KubernetesSource({
    kubeConfig: kubeConfig(url),
    kinds: ["EndpointSlice"],
    retryMs: 1000,
  });
  try {
    await source.start({ events: () => {}, synced: () => {}, problems: (p) => (problems = p) });
    assert.is(problems.length, 1);
    assert.is(problems[0].origin, "/apis/discovery.k8s.io/v1/endpointslices");
    assert.match(problems[0].message, "list failed: HTTP 403: endpointslices.discovery.k8s.io is forbidden");
    assert.match(problems[0].message, "must grant list and watch on endpointslices.discovery.k8s.io");
  } finally {
    await source.stop();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

outage("a watch refused after a granted list names the watch verb", async () => {
  const server = createServer((req, res) => {
    const watching = req.url?.includes("watch=true");
    res.writeHead(watching ? 403 : 200, { "content-type": "application/json" });
    res.end(
      watching
        ? JSON.stringify({ kind: "Status", code: 403 })
        : JSON.stringify({ kind: "List", metadata: { resourceVersion: "1" }, items: [] }),
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  let problems: SourceProblem[] = [];
  const source = new KubernetesSource({ kubeConfig: kubeConfig(url), kinds: ["Node"], retryMs: 1000 });
  try {
    await source.start({ events: () => {}, synced: () => {}, problems: (p) => (problems = p) });
    assert.is(problems.length, 1);
    assert.match(
      problems[0].message,
      /^watch failed: HTTP 403: Forbidden; the agent's ClusterRole must grant list and watch on nodes /,
    );
  } finally {
    await source.stop();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

const config = suite("no API server configured");

config("client-node's localhost:8080 fallback is refused with what to give instead", () => {
  const kc = new KubeConfig();
  kc.loadFromClusterAndUser(
    { name: "cluster", server: "http://localhost:8080", skipTLSVerify: false },
    { name: "user" },
  );
  assert.throws(
    () => new KubernetesSource({ kubeConfig: kc }),
    /no Kubernetes API server configured: .*give --kubeconfig FILE or --apiserver URL/,
  );
});

config("loadFromDefault with nothing to find is that fallback, and the agent refuses it", () => {
  const saved = { KUBECONFIG: process.env.KUBECONFIG, HOME: process.env.HOME };
  try {
    delete process.env.KUBECONFIG;
    process.env.HOME = "/nonexistent-wasmplane-home";
    const kc = new KubeConfig();
    kc.loadFromDefault();
    // (A machine with a service-account token mounted would load in-cluster instead.)
    if (kc.getCurrentCluster()?.name === "cluster")
      assert.throws(() => new KubernetesSource({ kubeConfig: kc }), /no Kubernetes API server configured/);
    else assert.is(kc.getCurrentCluster()?.name, "inCluster");
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});

pages.run();
retries.run();
wire.run();
outage.run();
config.run();
