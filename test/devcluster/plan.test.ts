// The dev cluster's pure parts: versions and linker flags from go.mod, the `kubernetes` Service IP,
// the command lines, kubeconfigs, the cache location and the source hash.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { parse } from "yaml";
import { kubernetesVersion, linkerFlags, sourceHash } from "../../runtime/devcluster/build.ts";
import {
  apiserverArgs,
  type ClusterState,
  etcdArgs,
  kubernetesServiceIP,
} from "../../runtime/devcluster/flags.ts";
import { renderKubeconfig } from "../../runtime/devcluster/kubeconfig.ts";
import { cacheRoot, clusterLayout } from "../../runtime/devcluster/layout.ts";
import { pkiPaths } from "../../runtime/devcluster/pki.ts";

const test = suite("devcluster plan");

test("the Kubernetes version comes from go.mod and is stamped into the binaries", () => {
  assert.is(
    kubernetesVersion("require (\n\tk8s.io/kubectl v0.37.2\n\tk8s.io/kubernetes v1.37.2\n)\n"),
    "v1.37.2",
  );
  assert.throws(() => kubernetesVersion("module x\n"), /no requirement on k8s.io\/kubernetes/);
  const flags = linkerFlags("v1.37.2");
  assert.match(flags, /^-s -w /);
  assert.match(flags, "-X k8s.io/component-base/version.gitVersion=v1.37.2");
  assert.match(flags, "-X k8s.io/client-go/pkg/version.gitMinor=37");
});

test("the kubernetes Service IP is the first host of the first service CIDR", () => {
  assert.is(kubernetesServiceIP("10.96.0.0/16,fd00:96::/112"), "10.96.0.1");
  assert.is(kubernetesServiceIP("10.0.255.0/24"), "10.0.255.1");
  assert.throws(() => kubernetesServiceIP("fd00:96::/112"), /want an IPv4 CIDR first/);
});

test("etcd and kube-apiserver listen on loopback only, with RBAC and the state's ports", () => {
  const layout = clusterLayout("/d");
  const state: ClusterState = {
    version: "v1.37.2",
    etcdClientPort: 1001,
    etcdPeerPort: 1002,
    apiserverPort: 1003,
    serviceCIDR: "10.96.0.0/16",
    apiserverExtraArgs: ["--watch-cache=false"],
  };
  const etcd = etcdArgs(layout, state);
  assert.ok(etcd.includes("--listen-client-urls=http://127.0.0.1:1001"));
  assert.ok(etcd.includes("--data-dir=/d/etcd"));
  const api = apiserverArgs(layout, state, pkiPaths(layout.pki));
  for (const flag of [
    "--bind-address=127.0.0.1",
    "--secure-port=1003",
    "--etcd-servers=http://127.0.0.1:1001",
    "--authorization-mode=RBAC",
    "--service-cluster-ip-range=10.96.0.0/16",
    "--client-ca-file=/d/pki/ca.crt",
    "--service-account-signing-key-file=/d/pki/sa.key",
  ])
    assert.ok(api.includes(flag), `missing ${flag}`);
  assert.is(api.at(-1), "--watch-cache=false", "extra flags come last, so they win");
});

test("kubeconfigs inline the CA and the credentials", () => {
  const cert = parse(
    renderKubeconfig({
      server: "https://127.0.0.1:1",
      caPem: "CA",
      user: "admin",
      credentials: { clientCert: "C", clientKey: "K" },
    }),
  );
  assert.is(cert.clusters[0].cluster.server, "https://127.0.0.1:1");
  assert.is(Buffer.from(cert.clusters[0].cluster["certificate-authority-data"], "base64").toString(), "CA");
  assert.is(Buffer.from(cert.users[0].user["client-key-data"], "base64").toString(), "K");
  const token = parse(
    renderKubeconfig({ server: "s", caPem: "CA", user: "sa", credentials: { token: "T" } }),
  );
  assert.equal(token.users[0], { name: "sa", user: { token: "T" } });
  assert.is(token["current-context"], "devcluster");
});

test("the cache root follows WASMPLANE_DEVCLUSTER_CACHE, then XDG_CACHE_HOME, then HOME", () => {
  assert.is(cacheRoot({ WASMPLANE_DEVCLUSTER_CACHE: "/c", XDG_CACHE_HOME: "/x" }), "/c");
  assert.is(cacheRoot({ XDG_CACHE_HOME: "/x", HOME: "/h" }), "/x/wasmplane/devcluster");
  assert.is(cacheRoot({ HOME: "/h" }), "/h/.cache/wasmplane/devcluster");
});

test("the source hash changes with go.sum, a .go file or the Go version, not with other files", () => {
  const dir = mkdtempSync(join(tmpdir(), "wpt-dch-"));
  try {
    writeFileSync(join(dir, "go.mod"), "module x\n");
    writeFileSync(join(dir, "go.sum"), "a\n");
    writeFileSync(join(dir, "main.go"), "package main\n");
    const base = sourceHash(dir, "go1.26.8", "-s");
    writeFileSync(join(dir, "README.md"), "notes\n");
    assert.is(sourceHash(dir, "go1.26.8", "-s"), base);
    assert.is.not(sourceHash(dir, "go1.27.3", "-s"), base);
    assert.is.not(sourceHash(dir, "go1.26.8", "-s -w"), base);
    writeFileSync(join(dir, "go.sum"), "b\n");
    assert.is.not(sourceHash(dir, "go1.26.8", "-s"), base);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
