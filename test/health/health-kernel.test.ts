// healthCheckNodePort and /healthz in a real namespace: the agent runs as `wasmplane agent --netns N`
// (the sockets are opened inside N by the bind helper), and a client namespace probes the node's IP
// over a veth, as a cloud load balancer would.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { type Child, startWasmplane, waitUntil } from "../agent/process-support.ts";
import { kernelTest } from "../support/kernel.ts";
import { createNetns, deleteNetns, uniqueNetnsName, vethLink } from "../support/netns.ts";

const test = suite("health endpoints in a namespace");

const nodeIP = "192.168.77.1";
const clientIP = "192.168.77.2";

function lbService(name: string, clusterIP: string, hcPort: number, labels = ""): string {
  return `apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: default${labels ? `, labels: {${labels}}` : ""}}
spec:
  type: LoadBalancer
  clusterIP: ${clusterIP}
  externalTrafficPolicy: Local
  healthCheckNodePort: ${hcPort}
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: ${hcPort - 2000}}]
`;
}

function slice(service: string, node: string): string {
  return `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ${service}-1, namespace: default, labels: {kubernetes.io/service-name: ${service}}}
addressType: IPv4
endpoints: [{addresses: [10.244.0.5], nodeName: ${node}, conditions: {ready: true}}]
ports: [{name: http, port: 8080, protocol: TCP}]
`;
}

interface Probe {
  status: number;
  body: string;
}

/** GET from the client namespace; null when the connection is refused (no server on that port). */
function probe(client: string, url: string): Probe | null {
  try {
    const out = execFileSync(
      "ip",
      ["netns", "exec", client, "curl", "-s", "-m", "3", "-w", "\n%{http_code}", url],
      { encoding: "utf8" },
    );
    const i = out.lastIndexOf("\n");
    return { status: Number(out.slice(i + 1)), body: out.slice(0, i) };
  } catch (err) {
    if ((err as { status?: number }).status === 7) return null; // curl: failed to connect
    throw err;
  }
}

kernelTest(test, "healthCheckNodePorts and /healthz answer on the node IP inside --netns", async () => {
  const node = uniqueNetnsName("hc-node");
  const client = uniqueNetnsName("hc-client");
  const dir = mkdtempSync(join(tmpdir(), "wpt-health-"));
  const manifests = join(dir, "manifests");
  let agent: Child | null = null;
  try {
    createNetns(node);
    createNetns(client);
    vethLink(node, client, "ext", [nodeIP, clientIP]);
    execFileSync("mkdir", [manifests]);
    writeFileSync(join(manifests, "web.yaml"), lbService("web", "10.96.0.50", 32100));
    writeFileSync(join(manifests, "web-slice.yaml"), slice("web", "node-a"));
    writeFileSync(join(manifests, "remote.yaml"), lbService("remote", "10.96.0.51", 32101));
    writeFileSync(join(manifests, "remote-slice.yaml"), slice("remote", "node-b"));
    writeFileSync(
      join(manifests, "other.yaml"),
      lbService("other", "10.96.0.52", 32102, "service.kubernetes.io/service-proxy-name: other-proxy"),
    );
    agent = startWasmplane([
      "agent",
      "--manifests",
      manifests,
      "--netns",
      node,
      "--node-name",
      "node-a",
      "--node-ip",
      nodeIP,
      "--service-cidr",
      "10.96.0.0/16",
      "--status-address",
      `unix:${join(dir, "status.sock")}`,
      "--min-sync-interval",
      "100ms",
    ]);
    const running = agent;
    const fail = (err: Error) => {
      throw new Error(`${err.message}\n--- agent output ---\n${running.output()}`);
    };
    const web = await waitUntil("the web health check", () => probe(client, `http://${nodeIP}:32100/`)).catch(
      fail,
    );
    assert.is(web.status, 200, web.body);
    assert.equal(JSON.parse(web.body), {
      service: { namespace: "default", name: "web" },
      localEndpoints: 1,
      serviceProxyHealthy: true,
    });
    const remote = await waitUntil("the remote health check", () => probe(client, `http://${nodeIP}:32101/`));
    assert.is(remote.status, 503, "no local endpoint");
    assert.is(JSON.parse(remote.body).localEndpoints, 0);
    assert.is(probe(client, `http://${nodeIP}:32102/`), null, "a service of another proxy gets no server");

    const healthz = probe(client, `http://${nodeIP}:10256/healthz`);
    assert.is(healthz?.status, 200, healthz?.body);
    assert.equal(Object.keys(JSON.parse(healthz?.body ?? "{}")), [
      "lastUpdated",
      "currentTime",
      "nodeEligible",
    ]);
    assert.is(probe(client, `http://${nodeIP}:10256/readyz`)?.status, 200);
    assert.is(probe(client, `http://${nodeIP}:10256/livez`)?.status, 200);

    // The endpoint moves to another node: the LB must stop sending traffic here.
    writeFileSync(join(manifests, "web-slice.yaml"), slice("web", "node-b"));
    await waitUntil(
      "web answering 503",
      () => probe(client, `http://${nodeIP}:32100/`)?.status === 503,
    ).catch(fail);
    // The service goes away: so does its server.
    unlinkSync(join(manifests, "web.yaml"));
    await waitUntil(
      "web's health check closed",
      () => probe(client, `http://${nodeIP}:32100/`) === null,
    ).catch(fail);
    // The line is logged once the closed server's last connection is gone, just after the refusal.
    await running.waitFor(/service health check default\/web closed \(port 32100\)/, 10_000);
  } finally {
    if (agent) await agent.stop("SIGTERM");
    deleteNetns(client);
    deleteNetns(node);
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
