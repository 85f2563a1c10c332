// The agent as the ServiceAccount of deploy/rbac.yaml, with a token from the TokenRequest API:
// the ClusterRole grants what the agent reads and nothing it does not need, the agent syncs with
// it, and a ClusterRole missing one verb gives an error that names the resource and the verb.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { parseAllDocuments } from "yaml";
import { fetchStatus } from "../../runtime/agent/status-server.ts";
import { type EchoServer, startEchoServer } from "../../runtime/sandbox/echo-server.ts";
import { buildTopology } from "../../runtime/sandbox/topology.ts";
import { watchedResources } from "../../runtime/sources/kubernetes.ts";
import {
  agentArgs,
  agentTestPlan,
  type Child,
  firstSync,
  root,
  startWasmplane,
  stopSandbox,
  tcpAnswer,
  waitUntil,
} from "../agent/process-support.ts";
import {
  clusterKernelTest,
  clusterTest,
  devclusterMissing,
  serviceYaml,
  sliceYaml,
  startTestCluster,
  type TestCluster,
  unexpectedProblems,
} from "./support.ts";

const test = suite("agent RBAC on a real kube-apiserver");
const rbacFile = join(root, "deploy", "rbac.yaml");

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}
interface Role {
  kind: string;
  metadata: { name: string };
  rules: Rule[];
}

function deployClusterRole(): Role {
  const docs = parseAllDocuments(readFileSync(rbacFile, "utf8")).map((d) => d.toJS() as Role | null);
  const role = docs.find((d) => d?.kind === "ClusterRole");
  if (!role) throw new Error(`${rbacFile}: no ClusterRole`);
  return role;
}

/** A copy of `role` named `name` in which `resource` lacks `verb` (the other grants unchanged). */
function withoutVerb(role: Role, name: string, resource: string, verb: string): Role {
  const rules = role.rules.flatMap((r) => {
    if (!r.resources.includes(resource) || !r.verbs.includes(verb)) return [r];
    const rest = r.resources.filter((x) => x !== resource);
    const reduced = { ...r, resources: [resource], verbs: r.verbs.filter((v) => v !== verb) };
    return [...(rest.length ? [{ ...r, resources: rest }] : []), ...(reduced.verbs.length ? [reduced] : [])];
  });
  return { ...role, metadata: { name }, rules };
}

interface Access {
  verb: string;
  group: string;
  resource: string;
}

/**
 * Asks the API server (SubjectAccessReview, all in one request) which of `asks` the ServiceAccount
 * kube-system/`sa` may do; returns the allowed ones as "verb resource.group". Exact, unlike
 * `kubectl auth can-i`, which needs the resource to be served (a CRD may be absent).
 */
function allowed(k: TestCluster, sa: string, asks: Access[]): string[] {
  const user = `system:serviceaccount:kube-system:${sa}`;
  const list = {
    apiVersion: "v1",
    kind: "List",
    items: asks.map((a) => ({
      apiVersion: "authorization.k8s.io/v1",
      kind: "SubjectAccessReview",
      spec: {
        user,
        groups: ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"],
        resourceAttributes: { verb: a.verb, group: a.group, resource: a.resource },
      },
    })),
  };
  // One line per review, in order ("true", or "" when not allowed).
  const answers = k
    .kubectl(["create", "-o", "jsonpath={.status.allowed}{'\\n'}", "-f", "-"], JSON.stringify(list))
    .split("\n");
  return asks.filter((_, i) => answers[i] === "true").map(named);
}

const named = (a: Access) => `${a.verb} ${a.resource}${a.group ? `.${a.group}` : ""}`;

/** Group and resource of an informer path such as /apis/discovery.k8s.io/v1/endpointslices. */
function groupResource(path: string): { group: string; resource: string } {
  const parts = path.split("/").filter(Boolean);
  return parts[0] === "api" ? { group: "", resource: parts[2] } : { group: parts[1], resource: parts[3] };
}

function tokenFor(k: TestCluster, sa: string): string {
  return k.kubectl(["create", "token", sa, "-n", "kube-system", "--duration=1h"]).trim();
}

let k: TestCluster;

test.before(async () => {
  if (devclusterMissing) return;
  k = await startTestCluster("rbac");
  k.kubectl(["apply", "-f", rbacFile]);
});

test.after(async () => {
  await k?.stop();
});

clusterTest(test, "deploy/rbac.yaml grants list and watch on every watched kind, and no writes", () => {
  const kinds = watchedResources.map((r) => groupResource(r.path));
  const reads = kinds.flatMap((g) => ["list", "watch"].map((verb) => ({ verb, ...g })));
  const writes = kinds.flatMap((g) =>
    ["get", "create", "update", "patch", "delete"].map((verb) => ({ verb, ...g })),
  );
  const secrets = { verb: "list", group: "", resource: "secrets" };
  const granted = allowed(k, "wasmplane", [...reads, ...writes, secrets]);
  const missing = reads.map(named).filter((r) => !granted.includes(r));
  const extra = granted.filter((g) => !reads.map(named).includes(g));
  assert.equal(missing, [], `deploy/rbac.yaml does not grant: ${missing.join(", ")}`);
  assert.equal(extra, [], `deploy/rbac.yaml grants more than the agent needs: ${extra.join(", ")}`);
});

clusterKernelTest(test, "the agent syncs as the ServiceAccount, with a TokenRequest token", async () => {
  const plan = agentTestPlan("dcr");
  const dir = mkdtempSync(join(tmpdir(), "wpt-dcr-"));
  const socket = `unix:${join(dir, "status.sock")}`;
  const servers: EchoServer[] = [];
  let agent: Child | null = null;
  try {
    buildTopology(plan);
    for (const p of plan.pods) servers.push(await startEchoServer(p.netns, p.name, [8080], []));
    k.kubectl(["create", "namespace", "rbac-web"]);
    k.kubectl(
      ["apply", "-f", "-"],
      `${serviceYaml("rbac-web", "web", "10.96.0.20")}---\n${sliceYaml("rbac-web", "web", ["10.244.1.3"])}`,
    );
    const kubeconfig = k.tokenKubeconfig("wasmplane", tokenFor(k, "wasmplane"));
    agent = startWasmplane(agentArgs(plan, socket, ["--kubeconfig", kubeconfig], { nodeName: true }));
    await firstSync(socket, agent);
    assert.is(tcpAnswer(plan.clientNetns, "10.96.0.20", 80), "pod2");
    // A change after the first sync arrives through the watch the token allows.
    k.kubectl(["apply", "-f", "-"], sliceYaml("rbac-web", "web", ["10.244.1.2"]));
    await waitUntil("the watched change", () =>
      tcpAnswer(plan.clientNetns, "10.96.0.20", 80) === "pod1" ? true : null,
    );
    const st = await fetchStatus(socket);
    assert.equal(
      unexpectedProblems(st.problems),
      [],
      `problems as the ServiceAccount: ${st.problems.join("; ")}`,
    );
    assert.is(await agent.stop("SIGTERM"), 0, `agent did not exit cleanly on SIGTERM:\n${agent.output()}`);
    agent = null;
  } finally {
    await stopSandbox(agent, servers, plan);
    rmSync(dir, { recursive: true, force: true });
  }
});

clusterKernelTest(
  test,
  "a ClusterRole without watch on endpointslices: the error names the resource and the verb",
  async () => {
    const plan = agentTestPlan("dcw");
    const dir = mkdtempSync(join(tmpdir(), "wpt-dcr-"));
    const socket = `unix:${join(dir, "status.sock")}`;
    let agent: Child | null = null;
    try {
      const role = withoutVerb(deployClusterRole(), "wasmplane-no-watch", "endpointslices", "watch");
      k.kubectl(
        ["apply", "-f", "-"],
        JSON.stringify({ apiVersion: "rbac.authorization.k8s.io/v1", ...role }),
      );
      k.kubectl(["create", "serviceaccount", "wasmplane-no-watch", "-n", "kube-system"]);
      k.kubectl([
        "create",
        "clusterrolebinding",
        "wasmplane-no-watch",
        "--clusterrole=wasmplane-no-watch",
        "--serviceaccount=kube-system:wasmplane-no-watch",
      ]);
      const slices = { group: "discovery.k8s.io", resource: "endpointslices" };
      assert.equal(
        allowed(k, "wasmplane-no-watch", [
          { verb: "list", ...slices },
          { verb: "watch", ...slices },
        ]),
        ["list endpointslices.discovery.k8s.io"],
      );
      const kubeconfig = k.tokenKubeconfig("no-watch", tokenFor(k, "wasmplane-no-watch"));
      buildTopology(plan);
      agent = startWasmplane(agentArgs(plan, socket, ["--kubeconfig", kubeconfig], { nodeName: true }));
      const running = agent;
      const problem = await waitUntil(
        "a problem about endpointslices",
        async () => (await fetchStatus(socket)).problems.find((p) => p.includes("endpointslices")) ?? null,
        30_000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\nagent output:\n${running.output()}`);
      });
      assert.match(problem, /\bwatch\b/, `the error names no verb: ${problem}`);
      assert.match(problem, /forbidden/i, `the error does not say access was denied: ${problem}`);
    } finally {
      await stopSandbox(agent, [], plan);
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test.run();
