// The status page's rendering of what the sandbox does not have (no root needed): problems, a refused
// LB plugin, a service's algorithm and its plugin, pods with the policies selecting them, failed
// syncs in the plot, and connection counts that cannot be read. A fixed status, served by the real
// status server, opened in headless Chromium (Debian's `chromium` through playwright-core).
import { existsSync } from "node:fs";
import { chromium } from "playwright-core";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { AgentStatus, SyncRecord } from "../../runtime/agent/status.ts";
import { startStatusServer } from "../../runtime/agent/status-server.ts";

const test = suite("status page rendering");

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const chromiumMissing = existsSync(CHROMIUM) ? null : `${CHROMIUM} missing (apt-get install chromium)`;
if (chromiumMissing && process.env.CI)
  throw new Error(`status page test: ${chromiumMissing}; CI must run it`);

function sync(i: number, ok: boolean): SyncRecord {
  return {
    at: `2026-01-01T00:00:0${i}.000Z`,
    full: i === 0,
    ok,
    durationMs: 10 + i,
    planMs: 1,
    applyMs: 5,
    operations: 3,
    bytes: 1000 * (i + 1),
    path: "netlink",
    ...(ok ? {} : { error: "nft: busy" }),
  };
}

function status(): AgentStatus {
  const syncs = [sync(0, true), sync(1, false), sync(2, true)];
  return {
    node: "n1",
    netns: null,
    source: "manifests /m",
    startedAt: "2026-01-01T00:00:00.000Z",
    sourceSynced: true,
    objects: { services: 1 },
    services: [
      {
        key: "shop/cart",
        type: "ClusterIP",
        clusterIPs: ["10.96.0.20"],
        externalIPs: [],
        loadBalancerIPs: [],
        ports: ["80/TCP -> 8080"],
        endpoints: [
          { address: "10.244.1.7", state: "ready" },
          { address: "10.244.1.8", state: "terminating" },
        ],
        lbAlgorithm: "maglev",
      },
    ],
    lastSync: syncs[2],
    lastSuccessfulSync: syncs[2],
    recentSyncs: syncs,
    syncs: { total: 3, failed: 1, consecutiveFailures: 0 },
    rssBytes: 1,
    lbPlugins: [
      {
        algorithm: "maglev",
        path: "/p/maglev.wasm",
        sha256: "ab".repeat(32),
        version: "1.2.0",
        grants: ["log", "random"],
      },
      { algorithm: "broken", path: "/p/broken.wasm", refused: "sha256 differs from the lock" },
    ],
    podNetworking: {
      allocations: [{ ip: "10.244.1.7", containerId: "c1", ifName: "eth0", pod: "shop/cart-1" }],
    },
    policy: {
      decider: "builtin",
      pods: [
        {
          pod: "shop/cart-1",
          ingress: { isolated: true, selectedBy: ["shop/allow-frontend"], rules: 2 },
        },
      ],
    },
    problems: ["Service shop/bad: spec.ports[0].port: must be 1-65535, got 70000"],
  };
}

test("problems, plugin health, algorithms, policies and failed syncs are shown", async () => {
  if (chromiumMissing) throw new Error(chromiumMissing);
  const server = await startStatusServer("127.0.0.1:0", status, {
    connections: async () => ({ available: false, reason: "conntrack -L -f ipv4: not found" }),
  });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, timeout: 60_000 });
  try {
    const page = await browser.newPage();
    await page.goto(`http://${server.address}/`, { timeout: 30_000 });
    await page.waitForSelector("body[data-rendered]", { timeout: 30_000 });
    // $$eval per selector: a named helper inside an evaluated function would carry tsx's `__name`.
    const texts = (selector: string) =>
      page.$$eval(selector, (elements) => elements.map((e) => e.textContent ?? ""));
    const shown = {
      problems: await texts("li.problem"),
      service: await texts('tr[data-service="shop/cart"] td'),
      plugins: await texts("tr[data-plugin]"),
      grants: await texts("tr[data-plugin] td.plugin-grants"),
      pod: await texts('tr[data-pod="shop/cart-1"] td'),
      bars: await texts("#sync-plot rect.sync-bar"),
      note: (await texts("#conntrack-note"))[0] ?? "",
    };
    assert.equal(shown.problems, status().problems);
    assert.match(shown.service[4], /^maglev \(plugin 1\.2\.0, sha256 abababababab\)$/);
    assert.match(shown.service[5], "10.244.1.8 (terminating)");
    assert.match(shown.plugins[0], "loaded");
    assert.match(shown.plugins[1], "REFUSED: sha256 differs from the lock");
    // A refused module serves nothing, so it has no grants to show.
    assert.equal(shown.grants, ["log, random", "-"]);
    assert.equal(shown.pod, [
      "shop/cart-1",
      "10.244.1.7",
      "isolated, 2 rules, by shop/allow-frontend",
      "not policed",
    ]);
    assert.is(shown.bars.length, 3);
    assert.match(shown.bars[1], "FAILED: nft: busy");
    assert.match(shown.note, "no connection counts: conntrack -L -f ipv4: not found");
  } finally {
    await browser.close();
    await server.close();
  }
});

test.run();
