import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { type AgentStatus, formatStatus, servicesStatus } from "../../runtime/agent/status.ts";
import { parseStatusAddress } from "../../runtime/agent/status-address.ts";
import { fetchStatus, startStatusServer } from "../../runtime/agent/status-server.ts";
import type { RawObject, SourceEvent } from "../../runtime/sources/source.ts";
import { Store } from "../../runtime/store/store.ts";

const test = suite("agent status");

function sampleStatus(): AgentStatus {
  const store = new Store();
  const add = (object: RawObject): SourceEvent => ({
    type: "add",
    kind: object.kind,
    key: `default/${object.metadata.name}`,
    object,
  });
  store.apply([
    add({
      kind: "Service",
      metadata: { name: "web" },
      spec: { clusterIP: "10.96.0.10", ports: [{ name: "http", port: 80, targetPort: 8080 }] },
    }),
    add({
      kind: "EndpointSlice",
      metadata: { name: "web-1", labels: { "kubernetes.io/service-name": "web" } },
      addressType: "IPv4",
      endpoints: [
        { addresses: ["10.244.1.2"] },
        { addresses: ["10.244.1.3"], conditions: { ready: false, serving: true, terminating: true } },
        { addresses: ["10.244.1.4"], conditions: { ready: false } },
      ],
      ports: [{ name: "http", port: 8080 }],
    }),
  ]);
  return {
    node: "n1",
    netns: "ns1",
    source: "manifests /m",
    startedAt: "2026-01-01T00:00:00.000Z",
    sourceSynced: true,
    objects: store.counts(),
    services: servicesStatus(store.snapshot()),
    lastSync: {
      at: "2026-01-01T00:00:01.000Z",
      full: false,
      ok: true,
      durationMs: 12.5,
      planMs: 2,
      applyMs: 9,
      operations: 4,
      bytes: 2048,
      path: "netlink",
    },
    lastSuccessfulSync: null,
    syncs: { total: 3, failed: 1, consecutiveFailures: 0 },
    rssBytes: 100 * 1024 * 1024,
    problems: ["Service default/bad: spec.ports[0].port: must be 1-65535, got 70000"],
  };
}

test("services show their endpoints by state; the text form has what an operator looks for", () => {
  const st = sampleStatus();
  assert.equal(st.services[0].endpoints, [
    { address: "10.244.1.2", state: "ready" },
    { address: "10.244.1.3", state: "terminating" },
    { address: "10.244.1.4", state: "not-ready" },
  ]);
  const text = formatStatus(st);
  for (const expected of [
    "node n1 (netns ns1), source manifests /m",
    "last sync: 2026-01-01T00:00:01.000Z (partial, ok) in 13ms: 4 operations, 2.0 KiB via netlink",
    "syncs: 3 total, 1 failed",
    "default/web  ClusterIP  10.96.0.10  http 80/TCP -> 8080",
    "endpoints: 1/3 ready: 10.244.1.2, 10.244.1.3 (terminating), 10.244.1.4 (not-ready)",
    "problems (1):\n  Service default/bad: spec.ports[0].port: must be 1-65535, got 70000",
  ]) {
    assert.ok(text.includes(expected), `missing ${JSON.stringify(expected)} in:\n${text}`);
  }
});

test("pod attachments: one line per container interface with its addresses", () => {
  const st: AgentStatus = {
    ...sampleStatus(),
    podNetworking: {
      allocations: [
        { ip: "10.244.1.2", containerId: "c1", ifName: "eth0", pod: "demo/echo-a" },
        { ip: "fd00:10:244:1::2", containerId: "c1", ifName: "eth0", pod: "demo/echo-a" },
        { ip: "10.244.1.3", containerId: "c2", ifName: "eth0" },
      ],
    },
  };
  const text = formatStatus(st);
  assert.ok(
    text.includes(
      "pod attachments (2):\n  c1/eth0 (pod demo/echo-a)  10.244.1.2, fd00:10:244:1::2\n  c2/eth0  10.244.1.3",
    ),
    text,
  );
  assert.not.ok(formatStatus(sampleStatus()).includes("pod attachments"));
});

test("status addresses: unix sockets and loopback ports only", () => {
  assert.equal(parseStatusAddress("unix:/run/x.sock"), { kind: "unix", path: "/run/x.sock" });
  assert.equal(parseStatusAddress("/run/x.sock"), { kind: "unix", path: "/run/x.sock" });
  assert.equal(parseStatusAddress("127.0.0.1:10259"), { kind: "tcp", host: "127.0.0.1", port: 10259 });
  assert.equal(parseStatusAddress("[::1]:10259"), { kind: "tcp", host: "::1", port: 10259 });
  assert.throws(() => parseStatusAddress("0.0.0.0:10259"), /only loopback addresses/);
  assert.throws(() => parseStatusAddress("localhost"), /must be unix:\/path or 127.0.0.1:PORT/);
});

test("served over a unix socket and a loopback port; /healthz follows the last sync", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wpt-status-"));
  const st = sampleStatus();
  const unix = await startStatusServer(`unix:${join(dir, "s.sock")}`, () => st);
  const tcp = await startStatusServer("127.0.0.1:0", () => st).catch(async (err) => {
    await unix.close();
    throw err;
  });
  try {
    assert.equal((await fetchStatus(unix.address)).services, st.services);
    assert.match(tcp.address, /^127\.0\.0\.1:\d+$/);
    assert.is((await fetchStatus(tcp.address)).node, "n1");
    const health = () =>
      new Promise<number>((resolve, reject) => {
        const [host, port] = tcp.address.split(":");
        request({ host, port: Number(port), path: "/healthz" }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
          .on("error", reject)
          .end();
      });
    assert.is(await health(), 200);
    st.lastSync = { ...(st.lastSync as NonNullable<AgentStatus["lastSync"]>), ok: false, error: "nft: busy" };
    assert.is(await health(), 503);
  } finally {
    await unix.close();
    await tcp.close();
    rmSync(dir, { recursive: true, force: true });
  }
  try {
    await fetchStatus(unix.address, 1000);
    assert.unreachable("answered after close");
  } catch (err) {
    assert.match((err as Error).message, "no agent answering on unix:");
  }
});

test.run();
