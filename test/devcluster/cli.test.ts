// `wasmplane devcluster start|status|stop` as a user runs them: progress printed, the admin
// kubeconfig and DIR/bin/kubectl work, stop removes nothing, and a second start reuses the ports,
// certificates and etcd data.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { root } from "../agent/process-support.ts";
import { clusterTest } from "./support.ts";

const test = suite("wasmplane devcluster command");

/** Runs `wasmplane devcluster ARGS`; the first start may build for many minutes. */
function devcluster(args: string[]): { code: number | null; out: string } {
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", join(root, "runtime/main.ts"), "devcluster", ...args],
    {
      cwd: root,
      encoding: "utf8",
      timeout: 45 * 60_000,
    },
  );
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

clusterTest(test, "start, use, stop and start again with the same data", () => {
  const dir = mkdtempSync(join(tmpdir(), "wpt-dc-cli-"));
  const kubectl = (...args: string[]) =>
    execFileSync(join(dir, "bin", "kubectl"), ["--kubeconfig", join(dir, "kubeconfig"), ...args], {
      encoding: "utf8",
      timeout: 60_000,
    });
  try {
    const first = devcluster(["start", "--dir", dir]);
    assert.is(first.code, 0, first.out);
    for (const line of [
      /starting etcd at http:\/\/127\.0\.0\.1:\d+/,
      /kube-apiserver ready in/,
      /ready: kubectl at /,
    ])
      assert.match(first.out, line);
    const state = readFileSync(join(dir, "cluster.json"), "utf8");
    assert.match(kubectl("get", "namespace", "kube-system", "-o", "name"), "namespace/kube-system");
    assert.match(kubectl("auth", "can-i", "*", "*"), "yes");
    kubectl("create", "namespace", "kept");

    const status = devcluster(["status", "--dir", dir]);
    assert.is(status.code, 0, status.out);
    assert.match(status.out, /etcd: running \(pid \d+\)/);

    const stop = devcluster(["stop", "--dir", dir]);
    assert.is(stop.code, 0, stop.out);
    assert.match(stop.out, "kube-apiserver: stopped");
    assert.match(stop.out, "etcd: stopped");
    assert.is(devcluster(["status", "--dir", dir]).code, 1);
    for (const kept of ["kubeconfig", "bin/kubectl", "pki/ca.crt", "etcd", "logs/kube-apiserver.log"])
      assert.ok(existsSync(join(dir, kept)), `stop removed ${kept}`);

    const again = devcluster(["start", "--dir", dir]);
    assert.is(again.code, 0, again.out);
    assert.is(readFileSync(join(dir, "cluster.json"), "utf8"), state, "a second start changed ports");
    assert.match(kubectl("get", "namespace", "kept", "-o", "name"), "namespace/kept");
  } finally {
    devcluster(["stop", "--dir", dir]);
    rmSync(dir, { recursive: true, force: true });
  }
});

clusterTest(test, "usage errors exit 2 and name what is wrong", () => {
  const noDir = devcluster(["start"]);
  assert.is(noDir.code, 2);
  assert.match(noDir.out, "--dir DIR is required");
  const badOnly = devcluster(["stop", "--dir", "/nonexistent", "--only", "kubelet"]);
  assert.is(badOnly.code, 2);
  assert.match(badOnly.out, '--only: want etcd or kube-apiserver, got "kubelet"');
});

test.run();
