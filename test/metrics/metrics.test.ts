// /metrics: served in Prometheus text format, with kube-proxy's sync series counting the syncs that
// happened, our transaction series, the change counters and the scrape-time state gauges.
import { createServer } from "node:http";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { AgentMetrics } from "../../runtime/metrics/metrics.ts";
import { startMetricsServer } from "../../runtime/metrics/server.ts";
import type { Service, Snapshot } from "../../runtime/store/objects.ts";
import { fakeAgent, fakeKernel, ManualSource, service, startWithListing } from "../support/fake-agent.ts";
import { sample } from "./prometheus-sample.ts";

const test = suite("metrics");

async function scrape(
  address: string,
  path = "/metrics",
): Promise<{ status: number; type: string; text: string }> {
  const res = await fetch(`http://${address}${path}`);
  return { status: res.status, type: res.headers.get("content-type") ?? "", text: await res.text() };
}

test("a sync increments kube-proxy's full/partial series and ours; changes are counted", async () => {
  const metrics = new AgentMetrics();
  const { dataplane } = fakeKernel();
  const source = new ManualSource();
  const agent = fakeAgent(source, dataplane, { metrics: metrics.sync });
  metrics.watch(agent.metricsState());
  const server = await startMetricsServer("127.0.0.1:0", metrics.registry, { log: () => {} });
  assert.ok(server, "the metrics server did not start");
  try {
    await startWithListing(agent, source, [service("a", 80), service("b", 81)]);
    const second = agent.nextSync();
    source.send([{ ...service("a", 8080), type: "update" }]);
    await second;
    const { status, type, text } = await scrape(server.address);
    assert.is(status, 200);
    assert.match(type, /text\/plain; version=0\.0\.4/);
    assert.is(sample(text, "kubeproxy_sync_proxy_rules_duration_seconds_count"), 2);
    assert.is(sample(text, "kubeproxy_sync_full_proxy_rules_duration_seconds_count"), 1);
    assert.is(sample(text, "kubeproxy_sync_partial_proxy_rules_duration_seconds_count"), 1);
    assert.is(sample(text, "kubeproxy_sync_proxy_rules_duration_seconds_bucket", { le: "16.384" }), 2);
    assert.is(sample(text, "kubeproxy_sync_proxy_rules_service_changes_total"), 3);
    assert.is(sample(text, "kubeproxy_sync_proxy_rules_endpoint_changes_total"), 0);
    const now = Date.now() / 1000;
    const last = sample(text, "kubeproxy_sync_proxy_rules_last_timestamp_seconds") ?? 0;
    const queued = sample(text, "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds") ?? 0;
    assert.ok(now - last < 60 && last <= now + 1, `last sync timestamp ${last}, now ${now}`);
    assert.ok(queued > 0 && queued <= last, `last queued ${queued}, last synced ${last}`);
    assert.is(sample(text, "wasmplane_syncs_total", { kind: "full", result: "ok", path: "netlink" }), 1);
    assert.is(sample(text, "wasmplane_syncs_total", { kind: "partial", result: "ok", path: "netlink" }), 1);
    assert.is(sample(text, "wasmplane_sync_transaction_operations_count"), 2);
    assert.ok((sample(text, "wasmplane_sync_transaction_bytes_sum") ?? 0) > 0);
    assert.is(
      sample(text, "kubeproxy_sync_proxy_rules_no_local_endpoints_total", { traffic_policy: "internal" }),
      0,
    );
    assert.ok(sample(text, "process_cpu_user_seconds_total") !== undefined, "no process metrics");
    assert.is((await scrape(server.address, "/other")).status, 404);
  } finally {
    await agent.stop();
    await server.close();
  }
});

test("a failed sync is timed and counted as an nftables sync failure, not as a success", async () => {
  const metrics = new AgentMetrics({ processMetrics: false });
  const { kernel, dataplane } = fakeKernel();
  kernel.fail = true;
  const source = new ManualSource();
  const agent = fakeAgent(source, dataplane, { metrics: metrics.sync });
  await agent.start();
  source.send([service("a", 80)]);
  const first = agent.nextSync();
  source.sink?.synced();
  await first;
  await agent.stop();
  const text = await metrics.text();
  assert.is(sample(text, "kubeproxy_sync_proxy_rules_nftables_sync_failures_total"), 1);
  assert.is(sample(text, "kubeproxy_sync_proxy_rules_duration_seconds_count"), 1);
  assert.is(sample(text, "wasmplane_syncs_total", { kind: "full", result: "failed" }), 1);
  assert.is(sample(text, "kubeproxy_sync_proxy_rules_last_timestamp_seconds"), 0);
  assert.not.match(text, /process_cpu/);
});

function snapshotWith(parts: Partial<Snapshot>): Snapshot {
  return {
    services: new Map(),
    endpointSlices: new Map(),
    nodes: new Map(),
    namespaces: new Map(),
    pods: new Map(),
    networkPolicies: new Map(),
    clusterNetworkPolicies: new Map(),
    ...parts,
  };
}

test("scrape-time gauges: no local endpoints, IPAM pools, policy, apply path (plugins: plugin-metrics.test.ts)", async () => {
  const metrics = new AgentMetrics({ processMetrics: false });
  const local: Service = { ...baseService(), internalTrafficPolicy: "Local" };
  const externalLocal: Service = {
    ...baseService(),
    name: "lb",
    type: "LoadBalancer" as const,
    externalTrafficPolicy: "Local" as const,
  };
  metrics.watch({
    nodeName: "n1",
    snapshot: () =>
      snapshotWith({
        services: new Map([
          ["default/web", local],
          ["default/lb", externalLocal],
        ]),
        nodes: new Map([["n1", { name: "n1", addresses: [], podCIDRs: ["10.244.1.0/24"] }]]),
      }),
    ipAllocations: () => [{ ip: "10.244.1.2" }, { ip: "10.244.1.3" }, { ip: "10.9.9.9" }],
    policyPods: () => [
      { pod: "default/a", ingress: { isolated: true, selectedBy: ["np"], rules: 2 } },
      { pod: "default/b", egress: { isolated: true, selectedBy: ["np"], rules: 1 } },
    ],
    applyStats: () => ({
      path: "netlink",
      selfTest: { state: "passed" },
      applied: { netlink: 5, nft: 1 },
      netlinkRefused: 1,
      nftRetries: { ok: 1, failed: 0 },
    }),
  });
  const text = await metrics.text();
  assert.is(
    sample(text, "kubeproxy_sync_proxy_rules_no_local_endpoints_total", { traffic_policy: "internal" }),
    1,
  );
  assert.is(
    sample(text, "kubeproxy_sync_proxy_rules_no_local_endpoints_total", { traffic_policy: "external" }),
    1,
  );
  assert.is(sample(text, "wasmplane_ipam_pool_addresses", { cidr: "10.244.1.0/24" }), 254);
  assert.is(sample(text, "wasmplane_ipam_used_addresses", { cidr: "10.244.1.0/24" }), 2);
  assert.is(sample(text, "wasmplane_ipam_free_addresses", { cidr: "10.244.1.0/24" }), 252);
  assert.is(sample(text, "wasmplane_policy_isolated_pods", { direction: "ingress" }), 1);
  assert.is(sample(text, "wasmplane_policy_rules", { direction: "ingress" }), 2);
  assert.is(sample(text, "wasmplane_policy_policies", { kind: "NetworkPolicy" }), 0);
  assert.is(sample(text, "wasmplane_apply_path_info", { path: "netlink" }), 1);
  assert.is(sample(text, "wasmplane_transactions_applied_total", { path: "nft" }), 1);
  assert.is(sample(text, "wasmplane_netlink_refused_transactions_total"), 1);
});

function baseService(): Service {
  return {
    namespace: "default",
    name: "web",
    type: "ClusterIP",
    clusterIPs: ["10.96.0.20"],
    ipFamilies: ["IPv4"],
    ports: [],
    externalIPs: [],
    loadBalancerIPs: [],
    loadBalancerSourceRanges: [],
    externalTrafficPolicy: "Cluster",
    internalTrafficPolicy: "Cluster",
    sessionAffinityTimeoutSeconds: 0,
    annotations: {},
  };
}

test("CNI commands: latency per command and errors", async () => {
  const metrics = new AgentMetrics({ processMetrics: false });
  metrics.cniCommand("ADD", 20, true);
  metrics.cniCommand("ADD", 30, false);
  metrics.cniCommand("DEL", 5, true);
  const text = await metrics.text();
  assert.is(sample(text, "wasmplane_cni_command_duration_seconds_count", { command: "ADD" }), 2);
  assert.is(sample(text, "wasmplane_cni_command_duration_seconds_count", { command: "DEL" }), 1);
  assert.is(sample(text, "wasmplane_cni_command_errors_total", { command: "ADD" }), 1);
});

test('"" disables the server; an address in use is logged, not fatal', async () => {
  const metrics = new AgentMetrics({ processMetrics: false });
  assert.is(await startMetricsServer("", metrics.registry, { log: () => {} }), null);
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  const port = (taken.address() as { port: number }).port;
  const lines: string[] = [];
  try {
    const server = await startMetricsServer(`127.0.0.1:${port}`, metrics.registry, {
      log: (l) => lines.push(l),
    });
    assert.is(server, null);
    assert.match(lines.join("\n"), /warning: metrics: cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
  } finally {
    await new Promise<void>((resolve) => taken.close(() => resolve()));
  }
});

test.run();
