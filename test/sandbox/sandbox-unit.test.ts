// Pure parts of the sandbox: the plan derived from manifests, conntrack counting; and the clear
// refusals when it cannot run (not root, nft missing).

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { countByBackend } from "../../runtime/sandbox/conntrack-counts.ts";
import { nodeManifest, planSandbox } from "../../runtime/sandbox/plan.ts";
import { parseManifestText } from "../../runtime/sources/parse-manifests.ts";
import type { RawObject } from "../../runtime/sources/source.ts";
import { validateObject } from "../../runtime/store/validate.ts";
import { root } from "../agent/process-support.ts";

const test = suite("sandbox parts");

test("plan: one pod per endpoint address, named by targetRef, listening on the slice ports", () => {
  const slice = (
    name: string,
    ports: { port: number; protocol?: string }[],
    endpoints: unknown[],
  ): RawObject => ({
    kind: "EndpointSlice",
    metadata: { name, namespace: "demo", labels: { "kubernetes.io/service-name": name } },
    addressType: "IPv4",
    ports,
    endpoints,
  });
  const plan = planSandbox(42, [
    slice(
      "a",
      [{ port: 8080 }, { port: 5353, protocol: "UDP" }],
      [{ addresses: ["10.244.1.2"], targetRef: { name: "echo-a" } }, { addresses: ["10.244.1.3"] }],
    ),
    slice("b", [{ port: 9090 }], [{ addresses: ["10.244.1.2"], targetRef: { name: "echo-a" } }]),
    {
      kind: "Service",
      metadata: { name: "a", namespace: "demo" },
      spec: { clusterIP: "10.96.0.10", ports: [{ port: 80 }] },
    },
  ]);
  assert.equal(
    plan.pods.map((p) => [p.name, p.netns, p.address, p.hostVeth, p.tcpPorts, p.udpPorts]),
    [
      ["echo-a", "wpsb-42-echo-a", "10.244.1.2", "wpsb-p1", [8080, 9090], [5353]],
      ["pod2", "wpsb-42-pod2", "10.244.1.3", "wpsb-p2", [8080], [5353]],
    ],
  );
  assert.equal(
    plan.services.map((s) => [s.key, s.clusterIPs]),
    [["demo/a", ["10.96.0.10"]]],
  );
  assert.is(plan.nodeNetns, "wpsb-42-node");
});

test("plan: a bad example manifest is an error naming the field", () => {
  assert.throws(
    () =>
      planSandbox(1, [
        { kind: "Service", metadata: { name: "a" }, spec: { clusterIP: "x", ports: [{ port: 80 }] } },
      ]),
    /Service default\/a: spec.clusterIP: must be an IP address/,
  );
});

test("plan: pods ask CNI for their example addresses, so these must lie in the node's pod CIDRs", () => {
  const slice = (addressType: string, address: string): RawObject => ({
    kind: "EndpointSlice",
    metadata: {
      name: `s-${addressType.toLowerCase()}`,
      namespace: "demo",
      labels: { "kubernetes.io/service-name": "s" },
    },
    addressType,
    ports: [{ port: 8080 }],
    endpoints: [{ addresses: [address], targetRef: { kind: "Pod", namespace: "demo", name: "echo-a" } }],
  });
  const plan = planSandbox(7, [slice("IPv4", "10.244.1.9"), slice("IPv6", "fd00:10:244:1::9")]);
  assert.equal(
    plan.pods.map((p) => [p.name, p.podNamespace, p.address, p.address6]),
    [["echo-a", "demo", "10.244.1.9", "fd00:10:244:1::9"]],
  );
  const node = parseManifestText(nodeManifest(plan), "node.yaml");
  assert.equal(node.problems, []);
  const v = validateObject("Node", node.objects[0].object);
  assert.ok(v.ok, JSON.stringify(v));
  if (v.ok) assert.equal(v.value.podCIDRs, ["10.244.1.0/24", "fd00:10:244:1::/64"]);
  assert.throws(
    () => planSandbox(7, [slice("IPv4", "10.244.2.9")]),
    /endpoint 10.244.2.9 \(pod echo-a\) is outside the sandbox node's pod CIDR 10.244.1.0\/24/,
  );
});

test("conntrack: DNATed flows are counted per backend, by protocol", () => {
  const out = [
    "tcp      6 117 TIME_WAIT src=10.250.0.2 dst=10.96.0.10 sport=41234 dport=80 src=10.244.1.2 dst=10.250.0.2 sport=8080 dport=41234 [ASSURED] mark=0 use=1",
    "tcp      6 117 TIME_WAIT src=10.250.0.2 dst=10.96.0.10 sport=41235 dport=80 src=10.244.1.3 dst=10.250.0.2 sport=8080 dport=41235 [ASSURED] mark=0 use=1",
    "udp      17 29 src=10.250.0.2 dst=10.96.0.10 sport=5000 dport=53 src=10.244.1.2 dst=10.250.0.2 sport=5353 dport=5000 mark=0 use=1",
    // Straight to the pod (no DNAT): not a service connection.
    "tcp      6 117 TIME_WAIT src=10.250.0.2 dst=10.244.1.2 sport=41236 dport=8080 src=10.244.1.2 dst=10.250.0.2 sport=8080 dport=41236 [ASSURED] mark=0 use=1",
    "conntrack v1.4.7 (conntrack-tools): 4 flow entries have been shown.",
  ].join("\n");
  const counts = countByBackend(out, ["10.244.1.2", "10.244.1.3", "10.244.1.4"]);
  assert.equal(
    [...counts.values()],
    [
      { backend: "10.244.1.2", tcp: 1, udp: 1 },
      { backend: "10.244.1.3", tcp: 1, udp: 0 },
      { backend: "10.244.1.4", tcp: 0, udp: 0 },
    ],
  );
});

function sandboxAs(options: { uid?: number; path?: string }) {
  return spawnSync(process.execPath, ["--import", "tsx", join(root, "runtime/main.ts"), "sandbox"], {
    cwd: root,
    encoding: "utf8",
    timeout: 30_000,
    ...(options.uid !== undefined ? { uid: options.uid, gid: options.uid } : {}),
    env: { ...process.env, ...(options.path ? { PATH: options.path } : {}), TSX_DISABLE_CACHE: "1" },
  });
}

test("refuses clearly when not root", () => {
  if (process.getuid?.() !== 0) {
    const res = sandboxAs({});
    assert.is(res.status, 1);
    assert.match(res.stderr, "run it as root");
    return;
  }
  const res = sandboxAs({ uid: 65534 });
  assert.is(res.status, 1, res.stderr);
  assert.match(
    res.stderr,
    "wasmplane sandbox: the sandbox creates network namespaces and nftables rules: run it as root",
  );
});

test("refuses clearly when nft is missing", () => {
  if (process.getuid?.() !== 0) return; // the root check comes first
  const bin = mkdtempSync(join(tmpdir(), "wpt-sbx-bin-"));
  try {
    const tools: Record<string, string> = {
      ip: "/usr/sbin/ip",
      sh: "/usr/bin/sh",
      nsenter: "/usr/bin/nsenter",
    };
    for (const [tool, path] of Object.entries(tools)) symlinkSync(path, join(bin, tool));
    const res = sandboxAs({ path: bin });
    assert.is(res.status, 1, res.stderr);
    assert.match(res.stderr, "missing nft: install with apt-get install -y nftables");
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
});

test.run();
