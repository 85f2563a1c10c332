// healthCheckNodePort end to end on a real kube-apiserver: the API server allocates the port for an
// externalTrafficPolicy Local load balancer, the agent (`--kubeconfig`, `--netns N`) serves it on
// the node IP inside N, and a client namespace probes it as a cloud load balancer would while the
// EndpointSlice moves between nodes and the Service is handed to another proxy, all with kubectl.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { type Child, firstSync, startWasmplane, waitUntil } from "../agent/process-support.ts";
import { clusterKernelTest, sliceYaml, startTestCluster } from "../devcluster/support.ts";
import { createNetns, deleteNetns, uniqueNetnsName, vethLink } from "../support/netns.ts";

const test = suite("healthCheckNodePort on a real kube-apiserver");

const nodeIP = "192.168.78.1";

/** GET from the client namespace: status and body, or null when the connection is refused. */
function probe(client: string, url: string): { status: number; body: string } | null {
  try {
    const out = execFileSync(
      "ip",
      ["netns", "exec", client, "curl", "-s", "-m", "3", "-w", "\n%{http_code}", url],
      {
        encoding: "utf8",
      },
    );
    const i = out.lastIndexOf("\n");
    return { status: Number(out.slice(i + 1)), body: out.slice(0, i) };
  } catch (err) {
    if ((err as { status?: number }).status === 7) return null;
    throw err;
  }
}

clusterKernelTest(
  test,
  "the allocated port answers 200 with a local endpoint, 503 without, and closes",
  async () => {
    const k = await startTestCluster("hc", { apiserverArgs: ["--endpoint-reconciler-type=none"] });
    const node = uniqueNetnsName("hcd-node");
    const client = uniqueNetnsName("hcd-client");
    const dir = mkdtempSync(join(tmpdir(), "wpt-hcd-"));
    let agent: Child | null = null;
    try {
      createNetns(node);
      createNetns(client);
      vethLink(node, client, "ext", [nodeIP, "192.168.78.2"]);
      k.kubectl(["create", "namespace", "t"]);
      k.kubectl(
        ["apply", "-f", "-"],
        `apiVersion: v1
kind: Service
metadata: {name: lb, namespace: t}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  ports: [{name: http, port: 80, targetPort: 8080}]
---
${sliceYaml("t", "lb", ["10.244.1.2"], "n1")}`,
      );
      const port = Number(
        k.kubectl(["get", "service", "lb", "-n", "t", "-o", "jsonpath={.spec.healthCheckNodePort}"]),
      );
      assert.ok(port >= 30000 && port <= 32767, `allocated healthCheckNodePort: ${port}`);
      const socket = `unix:${join(dir, "status.sock")}`;
      agent = startWasmplane([
        "agent",
        "--kubeconfig",
        k.cluster.layout.kubeconfig,
        "--netns",
        node,
        "--node-name",
        "n1",
        "--node-ip",
        nodeIP,
        "--min-sync-interval",
        "100ms",
        "--status-address",
        socket,
      ]);
      const running = agent;
      const fail = (err: Error) => {
        throw new Error(`${err.message}\n--- agent output ---\n${running.output()}`);
      };
      await firstSync(socket, running);
      const url = `http://${nodeIP}:${port}/`;
      const up = await waitUntil("the health check port", () => probe(client, url)).catch(fail);
      assert.is(up.status, 200, up.body);
      assert.equal(JSON.parse(up.body), {
        service: { namespace: "t", name: "lb" },
        localEndpoints: 1,
        serviceProxyHealthy: true,
      });
      assert.is(probe(client, `http://${nodeIP}:10256/readyz`)?.status, 200);

      k.kubectl(["apply", "-f", "-"], sliceYaml("t", "lb", ["10.244.1.2"], "n2"));
      await waitUntil(
        "503 once the endpoint is on another node",
        () => probe(client, url)?.status === 503,
      ).catch(fail);

      k.kubectl(["label", "service", "lb", "-n", "t", "service.kubernetes.io/service-proxy-name=other"]);
      await waitUntil(
        "the port closed once another proxy owns the Service",
        () => probe(client, url) === null,
      ).catch(fail);
    } finally {
      if (agent) await agent.stop("SIGTERM");
      deleteNetns(client);
      deleteNetns(node);
      rmSync(dir, { recursive: true, force: true });
      await k.stop();
    }
  },
);

test.run();
