// Every file in deploy/ is a manifest this API server version accepts:
// `kubectl apply --dry-run=server -R -f deploy/` against a real kube-apiserver. A server dry run
// stores nothing, so objects in a Namespace that deploy/ itself defines would be refused for want of
// it: those Namespaces are created for real first.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { parseAllDocuments } from "yaml";
import { root } from "../agent/process-support.ts";
import { clusterTest, devclusterMissing, startTestCluster, type TestCluster } from "./support.ts";

const test = suite("deploy/ on a real kube-apiserver");

let k: TestCluster;

test.before(async () => {
  if (!devclusterMissing) k = await startTestCluster("dep");
});

/** The Namespace objects in the manifests below `dir` (the files kubectl reads: .yaml, .yml, .json). */
function namespacesDefined(dir: string): unknown[] {
  const found: unknown[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) found.push(...namespacesDefined(path));
    else if (/\.(ya?ml|json)$/.test(entry))
      for (const doc of parseAllDocuments(readFileSync(path, "utf8"))) {
        const obj = doc.toJS() as { kind?: string } | null;
        if (obj?.kind === "Namespace") found.push(obj);
      }
  }
  return found;
}

test.after(async () => {
  await k?.stop();
});

clusterTest(test, "kubectl apply --dry-run=server -R -f deploy/ passes", () => {
  const deploy = join(root, "deploy");
  for (const ns of namespacesDefined(deploy)) k.kubectl(["apply", "-f", "-"], JSON.stringify(ns));
  const out = k.kubectl(["apply", "--dry-run=server", "-R", "-f", deploy]);
  // Each object is reported once, as "<kind>/<name> created (server dry run)".
  const lines = out.trim().split("\n");
  assert.ok(lines.length > 0 && lines.every((l) => l.includes("(server dry run)")), out);
  assert.ok(
    lines.some((l) => l.startsWith("daemonset.apps/")),
    `no DaemonSet in deploy/:\n${out}`,
  );
  assert.ok(
    lines.some((l) => l.startsWith("clusterrole.rbac.authorization.k8s.io/")),
    `no ClusterRole:\n${out}`,
  );
});

test.run();
