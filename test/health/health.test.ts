// Health endpoints without a kernel: kube-proxy's proxier-health rule, the answers' bodies, the bind
// address syntax, which healthCheckNodePorts a snapshot asks for, and the HTTP servers on loopback.
import { request } from "node:http";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { parseAgentArgs } from "../../runtime/agent/config.ts";
import { parseBindAddress } from "../../runtime/health/address.ts";
import { bindHere } from "../../runtime/health/bind.ts";
import { answerFor, startHealthServer } from "../../runtime/health/health-server.ts";
import {
  healthTimeoutMs,
  healthzAnswer,
  proxierHealthy,
  readyzAnswer,
  type SyncTimes,
} from "../../runtime/health/proxier-health.ts";
import { ServiceHealthServers } from "../../runtime/health/service-health.ts";
import { planHealthCheckPorts, serviceHealthAnswer } from "../../runtime/health/service-health-plan.ts";
import { port, service, slice, snapshot } from "../services/fixtures.ts";

const rule = suite("proxier health rule");
const T = 1_000_000;
const timeout = healthTimeoutMs(1000);

rule("the timeout is twice the resync interval, or twice kube-proxy's 30 s when resync is off", () => {
  assert.is(healthTimeoutMs(300_000), 600_000);
  assert.is(healthTimeoutMs(0), 60_000);
});

rule("healthy while starting, while nothing waits, and while a change waits less than the timeout", () => {
  assert.ok(proxierHealthy({ oldestQueuedAt: null, lastSuccessEndedAt: null }, T, timeout));
  assert.ok(proxierHealthy({ oldestQueuedAt: null, lastSuccessEndedAt: T - 10 * timeout }, T, timeout));
  assert.ok(proxierHealthy({ oldestQueuedAt: T - timeout + 1, lastSuccessEndedAt: null }, T, timeout));
});

rule("unhealthy once a queued change has waited the timeout without a successful sync", () => {
  assert.not.ok(proxierHealthy({ oldestQueuedAt: T - timeout, lastSuccessEndedAt: T - 5 }, T, timeout));
});

rule("/healthz reports lastUpdated as now when healthy, the last sync when not, and node eligibility", () => {
  const healthy = healthzAnswer(
    "/healthz",
    { oldestQueuedAt: null, lastSuccessEndedAt: T - 500 },
    T,
    timeout,
    true,
  );
  assert.is(healthy.status, 200);
  assert.equal(healthy.body, {
    lastUpdated: new Date(T).toISOString(),
    currentTime: new Date(T).toISOString(),
    nodeEligible: true,
  });
  const stalled: SyncTimes = { oldestQueuedAt: T - timeout - 1, lastSuccessEndedAt: T - 5000 };
  const sick = healthzAnswer("/healthz", stalled, T, timeout, true);
  assert.is(sick.status, 503);
  assert.is(sick.body.lastUpdated, new Date(T - 5000).toISOString());
  const ineligible = healthzAnswer(
    "/healthz",
    { oldestQueuedAt: null, lastSuccessEndedAt: T },
    T,
    timeout,
    false,
  );
  assert.is(ineligible.status, 503);
  // /livez ignores the node's eligibility and carries no nodeEligible field.
  const live = healthzAnswer("/livez", { oldestQueuedAt: null, lastSuccessEndedAt: T }, T, timeout, false);
  assert.is(live.status, 200);
  assert.not.ok("nodeEligible" in live.body);
});

rule("/readyz answers 200 only after the first successful sync", () => {
  assert.is(readyzAnswer({ oldestQueuedAt: T - 1, lastSuccessEndedAt: null }, T).status, 503);
  const ready = readyzAnswer({ oldestQueuedAt: null, lastSuccessEndedAt: T - 1 }, T);
  assert.is(ready.status, 200);
  assert.is(ready.body.ready, true);
});

rule("answerFor routes the three paths and nothing else", () => {
  const options = {
    address: { host: "127.0.0.1", port: 0 },
    bind: bindHere,
    times: () => ({ oldestQueuedAt: null, lastSuccessEndedAt: null }),
    timeoutMs: timeout,
    log: () => {},
    now: () => T,
  };
  assert.is(answerFor("/healthz", options)?.status, 200);
  assert.is(answerFor("/livez?verbose", options)?.status, 200);
  assert.is(answerFor("/readyz", options)?.status, 503);
  assert.is(answerFor("/status", options), null);
});

const address = suite("healthz bind address");

address('accepts IP:port and [IPv6]:port, and "" disables', () => {
  assert.equal(parseBindAddress("0.0.0.0:10256", "x"), { host: "0.0.0.0", port: 10256 });
  assert.equal(parseBindAddress("[::]:10256", "x"), { host: "::", port: 10256 });
  assert.is(parseBindAddress("", "x"), null);
});

address("refuses a host name, a missing port, a bare IPv6 address and a port out of range", () => {
  for (const bad of ["localhost:10256", "0.0.0.0", "::1:10256", "0.0.0.0:70000"])
    assert.throws(
      () => parseBindAddress(bad, "--healthz-bind-address"),
      /--healthz-bind-address: must be IP:port/,
    );
});

address("the agent flag and config key, defaulting to kube-proxy's 0.0.0.0:10256", () => {
  const parse = (args: string[], file = {}) => {
    const parsed = parseAgentArgs(["--manifests", "/m", ...args], () => file);
    if (parsed.help) throw new Error("help");
    return parsed.config.healthzBindAddress;
  };
  assert.is(parse([]), "0.0.0.0:10256");
  assert.is(parse(["--healthz-bind-address", "127.0.0.1:0"]), "127.0.0.1:0");
  assert.is(parse(["--healthz-bind-address", ""]), "");
  assert.is(parse(["--config", "c.yaml"], { healthzBindAddress: "[::1]:10256" }), "[::1]:10256");
  assert.throws(() => parse(["--healthz-bind-address", "nope"]), /--healthz-bind-address: must be IP:port/);
  assert.throws(
    () => parse(["--config", "c.yaml"], { healthzBindAddress: 10256 }),
    /healthzBindAddress: must be a string/,
  );
});

const plan = suite("healthCheckNodePort plan");

const lb = (name: string, over: Parameters<typeof service>[2] = {}) =>
  service("default", name, {
    type: "LoadBalancer",
    externalTrafficPolicy: "Local",
    healthCheckNodePort: 32000,
    ports: [port("http", "TCP", 80, 8080, 30080)],
    ...over,
  });

plan(
  "serves LoadBalancer services with externalTrafficPolicy Local, counting ready local endpoints once",
  () => {
    const web = lb("web");
    const cluster = lb("cluster", { externalTrafficPolicy: "Cluster", healthCheckNodePort: 32001 });
    const plain = service("default", "plain", { healthCheckNodePort: 32002 });
    const other = lb("other", { healthCheckNodePort: 32003, notProxied: "label x" });
    const snap = snapshot(
      [web, cluster, plain, other],
      [
        slice(web, [
          { ip: "10.1.0.1", node: "node-a" },
          { ip: "10.1.0.2", node: "node-a", ready: false },
          { ip: "10.1.0.3", node: "node-b" },
        ]),
        // The same endpoint in a second slice (during a slice rebalance) counts once.
        slice(
          web,
          [
            { ip: "10.1.0.1", node: "node-a" },
            { ip: "10.1.0.4", node: "node-a" },
          ],
          { suffix: "two" },
        ),
        slice(other, [{ ip: "10.1.0.9", node: "node-a" }]),
      ],
    );
    const ports = planHealthCheckPorts(snap, "node-a");
    assert.equal([...ports.keys()], ["default/web"]);
    assert.equal(ports.get("default/web"), {
      namespace: "default",
      name: "web",
      port: 32000,
      localEndpoints: 2,
    });
    assert.is(planHealthCheckPorts(snap, "node-c").get("default/web")?.localEndpoints, 0);
  },
);

plan("answers as kube-proxy: 200 with local endpoints and a healthy proxy, else 503", () => {
  const check = { namespace: "default", name: "web", localEndpoints: 2 };
  assert.equal(serviceHealthAnswer(check, true), {
    status: 200,
    body: { service: { namespace: "default", name: "web" }, localEndpoints: 2, serviceProxyHealthy: true },
  });
  assert.is(serviceHealthAnswer({ ...check, localEndpoints: 0 }, true).status, 503);
  assert.is(serviceHealthAnswer(check, false).status, 503);
});

const http = suite("health HTTP servers on loopback");

function get(host: string, portNumber: number, path: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port: portNumber, path, agent: false, timeout: 3000 }, (res) => {
      let text = "";
      res.on("data", (b) => {
        text += b;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${path}: no answer`)));
    req.on("error", reject);
    req.end();
  });
}

http("the node endpoint follows the agent's sync times", async () => {
  const times: SyncTimes = { oldestQueuedAt: null, lastSuccessEndedAt: null };
  const lines: string[] = [];
  const server = startHealthServer({
    address: { host: "127.0.0.1", port: 0 },
    bind: bindHere,
    times: () => times,
    timeoutMs: 200,
    log: (l) => lines.push(l),
  });
  try {
    await server.bound();
    const portNumber = Number(server.address().split(":").pop());
    assert.is((await get("127.0.0.1", portNumber, "/readyz")).status, 503);
    times.oldestQueuedAt = Date.now();
    times.lastSuccessEndedAt = Date.now();
    assert.is((await get("127.0.0.1", portNumber, "/readyz")).status, 200);
    assert.is((await get("127.0.0.1", portNumber, "/healthz")).status, 200);
    times.oldestQueuedAt = Date.now() - 1000;
    const sick = await get("127.0.0.1", portNumber, "/healthz");
    assert.is(sick.status, 503);
    assert.is((sick.body as { nodeEligible: boolean }).nodeEligible, true);
    assert.is((await get("127.0.0.1", portNumber, "/livez")).status, 503);
    assert.ok(
      lines.includes(`health endpoint on 127.0.0.1:${portNumber}: /healthz /livez /readyz`),
      lines.join("\n"),
    );
  } finally {
    await server.close();
  }
});

http("a taken port is one logged problem, retried, and one resolved line once it binds", async () => {
  const { createServer } = await import("node:net");
  const holder = createServer();
  await new Promise<void>((r) => holder.listen(0, "127.0.0.1", () => r()));
  const taken = (holder.address() as { port: number }).port;
  const lines: string[] = [];
  const server = startHealthServer({
    address: { host: "127.0.0.1", port: taken },
    bind: bindHere,
    times: () => ({ oldestQueuedAt: null, lastSuccessEndedAt: null }),
    timeoutMs: 200,
    log: (l) => lines.push(l),
    retryMs: 30,
  });
  try {
    await new Promise((r) => setTimeout(r, 200));
    assert.is(lines.filter((l) => l.startsWith("problem:")).length, 1, lines.join("\n"));
    assert.match(lines[0], /EADDRINUSE/);
    await new Promise<void>((r) => holder.close(() => r()));
    await server.bound();
    assert.is(lines.filter((l) => l.startsWith("resolved:")).length, 1, lines.join("\n"));
    assert.is((await get("127.0.0.1", taken, "/livez")).status, 200);
  } finally {
    await server.close();
    if (holder.listening) holder.close();
  }
});

http("healthCheckNodePort servers open, answer, change port and close with the snapshots", async () => {
  const { createServer } = await import("node:net");
  // Two free loopback ports, found by binding port 0 and releasing it.
  const free = async () => {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
    const p = (s.address() as { port: number }).port;
    await new Promise<void>((r) => s.close(() => r()));
    return p;
  };
  const [p1, p2] = [await free(), await free()];
  let healthy = true;
  const servers = new ServiceHealthServers({
    nodeName: "node-a",
    nodeIPs: ["127.0.0.1"],
    bind: bindHere,
    proxyHealthy: () => healthy,
    log: () => {},
  });
  try {
    const web = lb("web", { healthCheckNodePort: p1 });
    servers.update(snapshot([web], [slice(web, [{ ip: "10.1.0.1", node: "node-a" }])]));
    await servers.settled();
    const ok = await get("127.0.0.1", p1, "/");
    assert.is(ok.status, 200);
    assert.equal(ok.body, {
      service: { namespace: "default", name: "web" },
      localEndpoints: 1,
      serviceProxyHealthy: true,
    });
    healthy = false;
    assert.is((await get("127.0.0.1", p1, "/")).status, 503);
    healthy = true;
    servers.update(snapshot([web], [slice(web, [{ ip: "10.1.0.1", node: "node-b" }])]));
    await servers.settled();
    const none = await get("127.0.0.1", p1, "/");
    assert.is(none.status, 503);
    assert.is((none.body as { localEndpoints: number }).localEndpoints, 0);
    const moved = lb("web", { healthCheckNodePort: p2 });
    servers.update(snapshot([moved], [slice(moved, [{ ip: "10.1.0.1", node: "node-a" }])]));
    await servers.settled();
    assert.equal([...servers.ports()], [["default/web", p2]]);
    assert.is((await get("127.0.0.1", p2, "/")).status, 200);
    let refused = false;
    await get("127.0.0.1", p1, "/").catch(() => {
      refused = true;
    });
    assert.ok(refused, "the old port is closed");
    servers.update(snapshot([], []));
    await servers.settled();
    assert.is(servers.ports().size, 0);
  } finally {
    await servers.close();
  }
});

rule.run();
address.run();
plan.run();
http.run();
