// `npm start`'s sandbox as a child process: it builds the namespaces, the agent (with pod networking
// mounted) programs the node, every pod is attached through the CNI executable and gets its example
// addresses from the agent's IPAM, connections from the client namespace through a service are
// answered by the example backends, and SIGTERM detaches the pods (CNI DEL) and removes everything.
// The first test runs `npm start` itself and sends SIGTERM to npm, as a supervisor would: the start
// script must hand the signal on (it `exec`s node; a shell in between would leave the sandbox
// running).
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { fetchStatus } from "../../runtime/agent/status-server.ts";
import { startNpmScript, startWasmplane, tcpAnswer, udpAnswer, waitUntil } from "../agent/process-support.ts";
import { kernelTest } from "../support/kernel.ts";

const test = suite("sandbox");

function sandboxNamespaces(prefix: string): string[] {
  return execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
    .split("\n")
    .map((l) => l.split(" ")[0])
    .filter((n) => n.startsWith(`${prefix}-`));
}

kernelTest(
  test,
  "serves the example services from the client namespace and removes everything on SIGTERM",
  async () => {
    const child = startNpmScript("start");
    let prefix = "";
    let workDir = "";
    try {
      prefix = (await child.waitFor(/^sandbox (wpsb-\d+):$/m))[1];
      await child.waitFor(/^sandbox ready$/m, 60_000);
      const client = (await child.waitFor(/client namespace (\S+)/))[1];
      workDir = (await child.waitFor(/edit (\S+)\/manifests\//))[1];
      assert.is(sandboxNamespaces(prefix).length, 5, "node, client and three pods");

      // The pods were attached by the CNI executable: the agent's IPAM holds their example addresses.
      const status = await fetchStatus(`unix:/run/wasmplane/${prefix}.sock`);
      const allocations = (status.podNetworking?.allocations ?? [])
        .map((a) => `${a.containerId}/${a.ifName} ${a.pod} ${a.ip}`)
        .sort();
      const expected = ["a", "b", "c"].flatMap((p, i) => [
        `${prefix}-echo-${p}/eth0 demo/echo-${p} 10.244.1.${i + 2}`,
        `${prefix}-echo-${p}/eth0 demo/echo-${p} fd00:10:244:1::${i + 2}`,
      ]);
      assert.equal(allocations, expected.sort(), child.output());
      for (const p of ["a", "b", "c"]) assert.match(child.output(), `cni: ADD ${prefix}-echo-${p} eth0 ok`);
      // Node-side veths are the CNI server's (`wp` + hash, aliased with the container), not hand-made.
      const links = execFileSync("ip", ["-n", `${prefix}-node`, "-o", "link", "show"], { encoding: "utf8" });
      const aliases = [...links.matchAll(/alias wasmplane:(\S+)\/eth0/g)].map((m) => m[1]).sort();
      assert.equal(
        aliases,
        ["a", "b", "c"].map((p) => `${prefix}-echo-${p}`),
      );
      assert.not.match(links, /wpsb-p\d/);

      const backends = new Set(["echo-a", "echo-b", "echo-c"]);
      const tcp = Array.from({ length: 12 }, () => tcpAnswer(client, "10.96.0.10", 80));
      assert.ok(
        tcp.every((a) => backends.has(a)),
        `ClusterIP answers: ${tcp.join(",")}`,
      );
      assert.ok(new Set(tcp).size >= 2, `expected several backends: ${tcp.join(",")}`);
      assert.ok(backends.has(udpAnswer(client, "10.96.0.10", 53)), "UDP through the ClusterIP");
      const tcp6 = Array.from({ length: 6 }, () => tcpAnswer(client, "fd00:96::10", 80));
      assert.ok(
        tcp6.every((a) => backends.has(a)),
        `IPv6 ClusterIP answers: ${tcp6.join(",")}`,
      );
      assert.ok(backends.has(udpAnswer(client, "fd00:96::10", 53)), "UDP through the IPv6 ClusterIP");
      assert.ok(backends.has(tcpAnswer(client, "10.250.0.1", 30080)), "NodePort on the node IP");
      assert.is(tcpAnswer(client, "10.96.0.12", 80), "", "a service without endpoints must not answer");
      await child.waitFor(/connections per backend \(conntrack\): .*[1-9] tcp/, 10_000);
    } finally {
      const code = await child.stop("SIGTERM", 30_000);
      // Whatever a sandbox that missed the signal left behind is removed before asserting, so a
      // failure does not leak.
      const left = prefix ? sandboxNamespaces(prefix) : [];
      for (const name of left) execFileSync("ip", ["netns", "delete", name]);
      if (left.length > 0) rmSync(`/run/wasmplane/${prefix}.sock`, { force: true });
      const workDirLeft = workDir !== "" && existsSync(workDir);
      if (workDirLeft) rmSync(workDir, { recursive: true, force: true });
      assert.equal(left, [], "namespaces left after SIGTERM");
      assert.not.ok(workDirLeft, `${workDir} left after SIGTERM`);
      if (prefix) {
        assert.match(child.output(), `removed sandbox ${prefix}: 3 pods detached through CNI DEL`);
        for (const p of ["a", "b", "c"]) assert.match(child.output(), `cni: DEL ${prefix}-echo-${p} eth0 ok`);
      }
      assert.is(code, 0, child.output());
    }
  },
);

kernelTest(test, "a pod that CNI refuses stops the sandbox; pods already attached are detached", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wpt-int-sbx-"));
  writeFileSync(
    join(dir, "bad.yaml"),
    `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: demo, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{port: 8080}]
endpoints:
  - {addresses: ["10.244.1.7"], targetRef: {kind: Pod, namespace: demo, name: good}}
  - {addresses: ["10.244.1.0"], targetRef: {kind: Pod, namespace: demo, name: network}}
`,
  );
  const child = startWasmplane(["sandbox", "--manifests", dir]);
  let prefix = "";
  try {
    prefix = (await child.waitFor(/cni: ADD (wpsb-\d+)-good eth0 ok/, 60_000))[1];
    await child.waitFor(/removed sandbox/, 60_000);
    const exited = await waitUntil("the sandbox to exit", () =>
      child.process.exitCode === null ? null : { code: child.process.exitCode },
    );
    assert.is(exited.code, 1, child.output());
    // IPAM refuses the pod CIDR's network address (CNI error 101) and the error names the pod.
    assert.match(child.output(), `CNI ADD of ${prefix}-network by plugin wasmplane:`);
    assert.match(child.output(), "[CNI error 101]");
    assert.match(child.output(), `cni: DEL ${prefix}-good eth0 ok`);
    assert.match(child.output(), `removed sandbox ${prefix}: 1 pods detached through CNI DEL`);
    assert.equal(sandboxNamespaces(prefix), [], "namespaces left after a failed start");
  } finally {
    await child.stop("SIGTERM", 30_000);
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
