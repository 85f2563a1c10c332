// The status endpoint's routes on a loopback port: the page at /, the JSON status with the
// process's pid and the package version, per-backend connection counts, and 404 elsewhere.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { AgentStatus } from "../../runtime/agent/status.ts";
import { startStatusServer } from "../../runtime/agent/status-server.ts";
import { packageVersion } from "../../runtime/status-page/version.ts";

const test = suite("status server routes");

function status(): AgentStatus {
  return {
    node: "n1",
    netns: "ns1",
    source: "manifests /m",
    startedAt: "2026-01-01T00:00:00.000Z",
    sourceSynced: true,
    objects: { services: 1 },
    services: [
      {
        key: "default/web",
        type: "ClusterIP",
        clusterIPs: ["10.96.0.10"],
        externalIPs: [],
        loadBalancerIPs: [],
        ports: ["80/TCP -> 8080"],
        endpoints: [{ address: "10.244.1.2", state: "ready" }],
        lbAlgorithm: "maglev",
      },
    ],
    lastSync: null,
    lastSuccessfulSync: null,
    syncs: { total: 0, failed: 0, consecutiveFailures: 0 },
    rssBytes: 1,
    problems: [],
  };
}

test("serves the page, the status with pid and version, and connection counts", async () => {
  const asked: { netns: string | null; backends: string[] }[] = [];
  const server = await startStatusServer("127.0.0.1:0", status, {
    connections: async (netns, backends) => {
      asked.push({ netns, backends });
      return { available: true, counts: { "10.244.1.2": { tcp: 3, udp: 0 } } };
    },
  });
  const base = `http://${server.address}`;
  try {
    const page = await fetch(`${base}/`);
    assert.is(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", "text/html");
    const html = await page.text();
    assert.match(html, "<title>wasmplane status</title>");
    assert.match(html, 'fetch("status"');

    const st = (await (await fetch(`${base}/status`)).json()) as AgentStatus;
    assert.is(st.pid, process.pid);
    assert.is(st.version, packageVersion());
    assert.is(st.services[0].lbAlgorithm, "maglev");

    const counts = await (await fetch(`${base}/connections`)).json();
    assert.equal(counts, { available: true, counts: { "10.244.1.2": { tcp: 3, udp: 0 } } });
    assert.equal(asked, [{ netns: "ns1", backends: ["10.244.1.2"] }]);

    assert.is((await fetch(`${base}/status?x=1`)).status, 200, "a query string does not change the route");
    assert.is((await fetch(`${base}/nothing`)).status, 404);
    assert.is((await fetch(`${base}/status`, { method: "POST" })).status, 405);
  } finally {
    await server.close();
  }
});

test("a failing connection count is a 500 naming the error, not a crash", async () => {
  const server = await startStatusServer("127.0.0.1:0", status, {
    connections: async () => {
      throw new Error("conntrack: permission denied");
    },
  });
  try {
    const res = await fetch(`http://${server.address}/connections`);
    assert.is(res.status, 500);
    assert.match(await res.text(), "conntrack: permission denied");
    assert.is((await fetch(`http://${server.address}/status`)).status, 200, "still serving");
  } finally {
    await server.close();
  }
});

test.run();
