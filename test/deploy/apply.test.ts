// deploy/ against a real kube-apiserver (wasmplane devcluster): `kubectl apply --dry-run=server -f
// deploy/` accepts every object, and --apiserver lets the agent's ServiceAccount reach the API
// server when the kubeconfig's server (in a pod: the `kubernetes` Service's ClusterIP, unreachable
// on a node without kube-proxy) does not answer.
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { loadKubeConfig } from "../../runtime/sources/kubernetes.ts";
import { startTestCluster, type TestCluster } from "../devcluster/support.ts";
import { deployDir, manifestFiles, readManifests } from "./layout.ts";

const test = suite("deploy on a real kube-apiserver");
let k: TestCluster;

test.before(async () => {
  k = await startTestCluster("deploy");
});

test.after(async () => {
  await k?.stop();
});

test("kubectl apply --dry-run=server -f deploy/ accepts every object", () => {
  const out = k.kubectl(["apply", "--dry-run=server", "-f", deployDir]);
  const objects = manifestFiles(deployDir, false).flatMap((f) => readManifests(f).docs);
  assert.ok(objects.length >= 5);
  for (const o of objects)
    assert.match(out, `/${o.metadata.name} created (server dry run)`, `${o.kind}: ${out}`);
});

test("--apiserver reaches the API server when the kubeconfig's server does not answer", async () => {
  k.kubectl(["apply", "-f", join(deployDir, "rbac.yaml")]);
  const token = k.kubectl(["create", "token", "wasmplane", "-n", "kube-system", "--duration=10m"]).trim();
  // 127.0.0.1:1 refuses at once, standing in for a ClusterIP without rules.
  const kubeconfig = k.tokenKubeconfig("wasmplane-sa", token, "https://127.0.0.1:1");
  const lib = await import("@kubernetes/client-node");
  const list = async (server?: string) =>
    (await loadKubeConfig(kubeconfig, server)).makeApiClient(lib.CoreV1Api).listServiceForAllNamespaces();
  await list().then(
    () => assert.unreachable("the kubeconfig's own server answered"),
    (err: Error) => assert.match(String(err.message ?? err), /ECONNREFUSED|connect/),
  );
  const services = await list(k.cluster.server);
  assert.ok(
    services.items.some((s) => s.metadata?.name === "kubernetes"),
    "the `kubernetes` Service, listed with the ServiceAccount's token",
  );
});

test.run();
