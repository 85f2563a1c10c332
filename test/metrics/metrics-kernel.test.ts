// The acceptance path: `wasmplane agent --netns N --log-format json` with the default metrics
// address (127.0.0.1:10249, opened inside N), a change driven through the manifest directory, and
// /metrics read from inside N: the sync histograms count the syncs that happened, the service change
// counter the changes; the json log carries the rejected object's fields.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { type Child, startWasmplane, waitUntil } from "../agent/process-support.ts";
import { kernelTest } from "../support/kernel.ts";
import { createNetns, deleteNetns, uniqueNetnsName } from "../support/netns.ts";
import { sample } from "./prometheus-sample.ts";

const test = suite("metrics in a namespace");

function service(name: string, clusterIP: string, port: number): string {
  return `apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: default}
spec: {clusterIP: ${clusterIP}, ports: [{port: ${port}}]}
`;
}

/** GET /metrics inside `netns`; null when nothing listens yet. */
function scrape(netns: string): string | null {
  try {
    return execFileSync(
      "ip",
      ["netns", "exec", netns, "curl", "-sf", "-m", "3", "http://127.0.0.1:10249/metrics"],
      { encoding: "utf8" },
    );
  } catch {
    return null;
  }
}

kernelTest(
  test,
  "/metrics counts the syncs and changes of a running agent; json logs carry fields",
  async () => {
    const node = uniqueNetnsName("metrics");
    const dir = mkdtempSync(join(tmpdir(), "wpt-metrics-"));
    const manifests = join(dir, "manifests");
    let agent: Child | null = null;
    try {
      createNetns(node);
      mkdirSync(manifests);
      writeFileSync(join(manifests, "a.yaml"), service("a", "10.96.0.10", 80));
      agent = startWasmplane([
        "agent",
        "--manifests",
        manifests,
        "--netns",
        node,
        "--node-name",
        "n1",
        "--node-ip",
        "192.168.78.1",
        "--service-cidr",
        "10.96.0.0/16",
        "--status-address",
        "",
        "--healthz-bind-address",
        "",
        "--min-sync-interval",
        "100ms",
        "--log-format",
        "json",
      ]);
      const running = agent;
      const fail = (err: Error) => {
        throw new Error(`${err.message}\n--- agent output ---\n${running.output()}`);
      };
      const first = await waitUntil("the first sync in /metrics", () => {
        const text = scrape(node);
        return text && (sample(text, "kubeproxy_sync_full_proxy_rules_duration_seconds_count") ?? 0) >= 1
          ? text
          : null;
      }).catch(fail);
      const before = sample(first, "kubeproxy_sync_proxy_rules_duration_seconds_count") ?? 0;
      const changesBefore = sample(first, "kubeproxy_sync_proxy_rules_service_changes_total") ?? 0;
      assert.ok(changesBefore >= 1, "the first listing's Service is a change");

      writeFileSync(join(manifests, "b.yaml"), service("b", "10.96.0.11", 81));
      writeFileSync(join(manifests, "bad.yaml"), service("bad", "10.96.0.12", 70000));
      const after = await waitUntil("the change's sync in /metrics", () => {
        const text = scrape(node);
        return text && (sample(text, "kubeproxy_sync_partial_proxy_rules_duration_seconds_count") ?? 0) >= 1
          ? text
          : null;
      }).catch(fail);
      const syncs = sample(after, "kubeproxy_sync_proxy_rules_duration_seconds_count") ?? 0;
      const full = sample(after, "kubeproxy_sync_full_proxy_rules_duration_seconds_count") ?? 0;
      const partial = sample(after, "kubeproxy_sync_partial_proxy_rules_duration_seconds_count") ?? 0;
      assert.ok(syncs > before, `${syncs} syncs after the change, ${before} before`);
      assert.is(full + partial, syncs, "every sync is either full or partial");
      assert.ok(
        (sample(after, "kubeproxy_sync_proxy_rules_service_changes_total") ?? 0) >= changesBefore + 2,
      );
      const ok = (path: string) =>
        sample(after, "wasmplane_syncs_total", { kind: "partial", result: "ok", path }) ?? 0;
      assert.ok(ok("netlink") + ok("nft") >= 1, "the change went through netlink or nft");
      assert.ok((sample(after, "wasmplane_sync_transaction_bytes_sum") ?? 0) > 0);
      assert.ok(sample(after, "process_resident_memory_bytes") !== undefined);

      const line = await running
        .waitFor(/^\{.*"msg":"rejected: Service default\/bad.*$/m, 10_000)
        .catch(fail);
      const record = JSON.parse(line[0]) as Record<string, unknown>;
      assert.equal(
        [record.level, record.kind, record.namespace, record.name, record.field],
        ["warn", "Service", "default", "bad", "spec.ports[0].port"],
      );
      const syncLine = running
        .output()
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((r) => String(r.msg).startsWith("sync full:"));
      assert.ok(
        syncLine && typeof syncLine.sync === "number" && typeof syncLine.durationMs === "number",
        "sync line fields",
      );
    } finally {
      if (agent) await agent.stop("SIGTERM");
      deleteNetns(node);
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test.run();
