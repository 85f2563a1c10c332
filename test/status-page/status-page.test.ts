// The status page in headless Chromium (Debian's `chromium`, driven by playwright-core; no browser is
// downloaded) against a running sandbox: `wasmplane sandbox` prints the page's address, the page
// shows the services, endpoint addresses, pod attachments and problems of the agent's status JSON,
// plots the syncs, and a screenshot is saved under the test's temp dir. `wasmplane status` reads the
// same agent over TCP and prints its pid and version. The sandbox runs the shipped LB plugins
// through the Wasm host, so the page's plugin table (name, version, hash, grants) is checked too.
import { existsSync, mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Page } from "playwright-core";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { AgentStatus } from "../../runtime/agent/status.ts";
import { findModules, writeLock } from "../../runtime/plugins/lock.ts";
import { packageVersion } from "../../runtime/status-page/version.ts";
import { root, runWasmplane, startWasmplane, tcpAnswer } from "../agent/process-support.ts";
import { kernelTest } from "../support/kernel.ts";

const test = suite("status page");

// The DOM as the page.evaluate callbacks (run in the browser) use it; the project compiles without
// the DOM library.
interface PageElement {
  dataset: Record<string, string | undefined>;
  textContent: string | null;
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement> & Iterable<PageElement>;
}
declare const document: Pick<PageElement, "querySelectorAll"> & {
  getElementById(id: string): PageElement | null;
};

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const chromiumMissing = existsSync(CHROMIUM) ? null : `${CHROMIUM} missing (apt-get install chromium)`;
if (chromiumMissing && process.env.CI)
  throw new Error(`status page test: ${chromiumMissing}; CI must run it`);

interface ShownPlugin {
  algorithm: string;
  version: string;
  sha256: string;
  grants: string;
}

interface Shown {
  services: { key: string; endpoints: string[] }[];
  plugins: ShownPlugin[];
  pods: { pod: string; ips: string[] }[];
  problems: string[];
  syncBars: number;
  summary: string;
}

function expected(st: AgentStatus): Shown {
  const pods = new Map<string, string[]>();
  for (const a of st.podNetworking?.allocations ?? []) {
    const key = a.pod ?? `${a.containerId}/${a.ifName}`;
    pods.set(key, [...(pods.get(key) ?? []), a.ip]);
  }
  return {
    services: st.services.map((s) => ({ key: s.key, endpoints: s.endpoints.map((e) => e.address) })),
    pods: [...pods].map(([pod, ips]) => ({ pod, ips })),
    plugins: (st.lbPlugins ?? []).map((p) => ({
      algorithm: p.algorithm,
      version: p.version ?? "?",
      sha256: p.sha256 ?? "",
      grants: (p.grants ?? []).join(","),
    })),
    problems: st.problems,
    syncBars: (st.recentSyncs ?? []).length,
    summary: "",
  };
}

async function statusJson(pageUrl: string): Promise<AgentStatus> {
  const res = await fetch(`${pageUrl}status`);
  assert.is(res.status, 200);
  return (await res.json()) as AgentStatus;
}

/** One connection through a service from the client: after a reload its backend shows a TCP flow. */
async function connectionsShown(page: Page, st: AgentStatus, clientNetns: string): Promise<void> {
  const service = st.services.find((s) => s.endpoints.length > 0 && /\d+\/TCP/.test(s.ports.join()));
  const port = Number(/(\d+)\/TCP/.exec(service?.ports.join() ?? "")?.[1]);
  if (!service || !port) throw new Error("no example service with a TCP port and endpoints");
  const answer = tcpAnswer(clientNetns, service.clusterIPs[0], port);
  assert.ok(answer, `no answer from ${service.clusterIPs[0]}:${port}`);
  await page.reload({ timeout: 30_000 });
  await page.waitForSelector("body[data-rendered]", { timeout: 30_000 });
  const tcp = await page.evaluate(
    (key) =>
      [...document.querySelectorAll(`tr[data-service="${key}"] [data-tcp]`)].reduce(
        (n, e) => n + Number(e.dataset.tcp),
        0,
      ),
    service.key,
  );
  assert.ok(tcp >= 1, `page shows ${tcp} TCP flows for ${service.key} after a connection`);
}

const scenario = async () => {
  if (chromiumMissing) throw new Error(chromiumMissing);
  const out = mkdtempSync(join(tmpdir(), "wpt-status-page-"));
  const pluginDir = join(root, "build/plugins/lb");
  const lock = join(out, "plugins.lock.json");
  writeLock(lock, findModules(pluginDir));
  const child = startWasmplane(["sandbox", "--lb-plugin-dir", pluginDir, "--lb-lock", lock]);
  try {
    const pageUrl = (await child.waitFor(/^status page: (http:\/\/127\.0\.0\.1:\d+\/)$/m, 90_000))[1];
    await child.waitFor(/^sandbox ready$/m, 30_000);
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, timeout: 60_000 });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      await page.goto(pageUrl, { timeout: 30_000 });
      await page.waitForSelector("body[data-rendered]", { timeout: 30_000 });
      const st = await statusJson(pageUrl);
      const shown: Shown = await page.evaluate(() => ({
        services: [...document.querySelectorAll("tr[data-service]")].map((r) => ({
          key: r.dataset.service ?? "",
          endpoints: [...r.querySelectorAll("[data-address]")].map((e) => e.dataset.address ?? ""),
        })),
        plugins: [...document.querySelectorAll("tr[data-plugin]")].map((r) => ({
          algorithm: r.dataset.plugin ?? "",
          version: r.querySelector(".plugin-version")?.textContent ?? "",
          sha256: r.dataset.sha256 ?? "",
          grants: r.querySelector(".plugin-grants")?.dataset.grants ?? "",
        })),
        pods: [...document.querySelectorAll("tr[data-pod]")].map((r) => ({
          pod: r.dataset.pod ?? "",
          ips: (r.querySelector(".pod-ips")?.textContent ?? "").split(", ").filter(Boolean),
        })),
        problems: [...document.querySelectorAll("li.problem")].map((p) => p.textContent ?? ""),
        syncBars: document.querySelectorAll("#sync-plot rect.sync-bar").length,
        summary: document.getElementById("summary")?.textContent ?? "",
      }));
      const want = expected(st);
      assert.ok(want.services.length > 0, "the sandbox serves the example services");
      assert.ok(want.pods.length > 0, "the sandbox attaches pods");
      assert.ok(want.plugins.length >= 7, `the shipped LB plugins: ${JSON.stringify(st.lbPlugins)}`);
      assert.ok(
        want.plugins.every((p) => /^[0-9a-f]{64}$/.test(p.sha256) && p.version !== "?"),
        "every shipped plugin is loaded",
      );
      assert.equal(shown.plugins, want.plugins);
      assert.equal(shown.services, want.services);
      assert.equal(shown.pods, want.pods);
      assert.equal(shown.problems, want.problems);
      // The page and the JSON were read moments apart: a resync may add a bar in between.
      assert.ok(
        shown.syncBars >= 1 && Math.abs(shown.syncBars - want.syncBars) <= 1,
        `${shown.syncBars} bars`,
      );
      assert.match(shown.summary, `agent pid ${child.process.pid}, version ${packageVersion()}`);
      await connectionsShown(page, st, (await child.waitFor(/client namespace (\S+)/))[1]);
      const shot = join(out, "status-page.png");
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok(statSync(shot).size > 1000, `screenshot ${shot}`);
      console.log(`status page screenshot: ${shot}`);

      // `wasmplane status` over TCP: the same agent, its pid and version.
      const text = runWasmplane(["status", "--status-address", new URL(pageUrl).host]);
      assert.match(text, `agent: pid ${child.process.pid}, version ${packageVersion()}`);
      assert.match(text, `services (${st.services.length}):`);
    } finally {
      await browser.close();
    }
  } finally {
    const code = await child.stop("SIGTERM", 60_000);
    assert.is(code, 0, child.output());
  }
};

kernelTest(test, "shows what the agent's status says, in headless Chromium", scenario);

test.run();
