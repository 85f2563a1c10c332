// The Wasm ipam plugins on the plugin host: `range` decides exactly as the TypeScript range decider
// over a long allocate/release sequence; `random` and `static` keep the contract; bad plugin
// output is caught by the host's check.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { IpamAllocation, IpamDecider, IpamInput } from "../../runtime/ipam/decider.ts";
import { decideRange } from "../../runtime/ipam/range.ts";
import { ipamDeciderFromSpec, shippedPluginPath } from "../../runtime/ipam/select.ts";
import { checkDecision, createWasmIpamDecider, type WasmIpamDecider } from "../../runtime/ipam/wasm.ts";
import { buildPlugins } from "../../runtime/plugins/build.ts";
import { writeLock } from "../../runtime/plugins/lock.ts";

const test = suite("ipam wasm plugins");
const deciders = new Map<string, WasmIpamDecider>();

async function plugin(name: string): Promise<WasmIpamDecider> {
  let d = deciders.get(name);
  // `npm test` builds the plugins first; a run of this file alone builds them when missing.
  if (!d && !existsSync(shippedPluginPath(name))) await buildPlugins();
  if (!d) {
    d = (await ipamDeciderFromSpec(`wasm:${name}`)) as WasmIpamDecider;
    deciders.set(name, d);
  }
  return d;
}

test.after(async () => {
  for (const d of deciders.values()) await d.close();
});

function input(
  allocations: IpamAllocation[],
  last: IpamInput["lastAllocated"],
  id: string,
  requested: string[] = [],
): IpamInput {
  return {
    podCIDRs: ["10.3.0.0/28", "fd03::/64"],
    allocations,
    lastAllocated: last,
    request: { containerId: id, ifName: "eth0", podNamespace: "ns", podName: id, requestedIPs: requested },
  };
}

/** Drives a decider through allocate/release churn that wraps the small IPv4 pool several times. */
async function churn(
  decider: IpamDecider | ((i: IpamInput) => ReturnType<typeof decideRange>),
): Promise<string[]> {
  const allocations: IpamAllocation[] = [];
  const last: IpamInput["lastAllocated"] = {};
  const log: string[] = [];
  let rng = 7;
  for (let i = 0; i < 120; i++) {
    rng = (rng * 1103515245 + 12345) % 2147483648;
    if (allocations.length > 0 && (rng % 3 === 0 || allocations.length >= 32)) {
      const victim = allocations[rng % allocations.length].containerId;
      for (let j = allocations.length - 1; j >= 0; j--)
        if (allocations[j].containerId === victim) allocations.splice(j, 1);
      log.push(`release ${victim}`);
      continue;
    }
    const req = input(allocations, { ...last }, `c${i}`);
    const d = typeof decider === "function" ? decider(req) : await decider.allocate(req);
    if (!d.ok) {
      log.push(`refused ${d.reason}`);
      continue;
    }
    for (const a of d.addresses) {
      allocations.push({ ip: a.ip, containerId: `c${i}`, ifName: "eth0" });
      if (a.ip.includes(":")) last.v6 = a.ip;
      else last.v4 = a.ip;
    }
    log.push(
      `c${i} ${d.addresses.map((a) => `${a.ip}/${a.prefixLength}`).join(" ")} ${d.routes.map((r) => r.dst).join(" ")}`,
    );
  }
  return log;
}

test("wasm range decides exactly as the TypeScript range decider, including exhaustion", async () => {
  const wasm = await churn(await plugin("range"));
  const ts = await churn(decideRange);
  assert.equal(wasm, ts);
  assert.ok(
    ts.some((l) => l.startsWith("refused exhausted")),
    "the sequence reaches exhaustion",
  );
});

test("requested addresses through the plugin: honoured, refused when taken or outside", async () => {
  const range = await plugin("range");
  const held = [{ ip: "10.3.0.5", containerId: "other", ifName: "eth0" }];
  const ok = await range.allocate(input(held, {}, "x", ["10.3.0.7"]));
  assert.ok(ok.ok && ok.addresses[0].ip === "10.3.0.7" && ok.addresses[1].ip === "fd03::1");
  const taken = await range.allocate(input(held, {}, "x", ["10.3.0.5"]));
  assert.ok(!taken.ok && taken.reason === "requested-unavailable" && taken.message.includes("10.3.0.5"));
  const outside = await range.allocate(input(held, {}, "x", ["10.9.0.5"]));
  assert.ok(!outside.ok && outside.reason === "requested-unavailable");
  const junk = await range.allocate(input(held, {}, "x", ["nope"]));
  assert.ok(!junk.ok && junk.reason === "invalid-request");
});

test("wasm random: valid, free, the same answer for the same request, spread across the pool", async () => {
  const random = await plugin("random");
  const held = [{ ip: "10.3.0.1", containerId: "other", ifName: "eth0" }];
  const seen = new Set<string>();
  for (let i = 0; i < 12; i++) {
    const req = input(held, {}, `pod-${i}`);
    const a = await random.allocate(req);
    const b = await random.allocate(req);
    assert.equal(a, b);
    assert.is(checkDecision(req, a), null);
    if (a.ok) seen.add(a.addresses[0].ip);
  }
  assert.ok(seen.size >= 5, `spread over ${seen.size} addresses`);
});

test("wasm static: only requested addresses, a clear refusal without one", async () => {
  const stat = await plugin("static");
  const none = await stat.allocate(input([], {}, "s"));
  assert.ok(!none.ok && none.reason === "invalid-request" && none.message.includes("ipam.wasmplane.io/ips"));
  const one = await stat.allocate(input([], {}, "s", ["fd03::42"]));
  assert.ok(one.ok);
  if (one.ok) assert.equal(one.addresses, [{ ip: "fd03::42", prefixLength: 128 }]);
});

test("a lock file pins the module: unlisted or changed modules are refused", async () => {
  await plugin("range");
  const dir = mkdtempSync(join(tmpdir(), "wpt-cni-lock-"));
  try {
    const lockPath = join(dir, "plugins.lock.json");
    writeLock(lockPath, [shippedPluginPath("range")]);
    const pinned = await createWasmIpamDecider({ file: shippedPluginPath("range"), lockPath });
    await pinned.close();
    await createWasmIpamDecider({ file: shippedPluginPath("random"), lockPath }).then(
      () => assert.unreachable("an unlisted module was admitted"),
      (err: Error) => assert.match(err.message, "is not in lock file"),
    );
    const copy = join(dir, "range.wasm");
    const bytes = readFileSync(shippedPluginPath("range"));
    writeFileSync(copy, bytes);
    writeLock(lockPath, [copy]);
    writeFileSync(copy, Buffer.concat([bytes, Buffer.from([0, 4, 1, 0x78, 0x79, 0x7a])]));
    await createWasmIpamDecider({ file: copy, lockPath }).then(
      () => assert.unreachable("a changed module was admitted"),
      (err: Error) => assert.match(err.message, "differs from the locked"),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the host rejects a decision outside the pool or already held", () => {
  const req = input([{ ip: "10.3.0.2", containerId: "other", ifName: "eth0" }], {}, "x");
  const out = (ip: string) => ({ ok: true as const, addresses: [{ ip, prefixLength: 32 }], routes: [] });
  assert.match(checkDecision(req, out("10.4.0.2"))!, "outside the pod CIDRs");
  assert.match(checkDecision(req, out("10.3.0.2"))!, "another attachment");
  assert.is(checkDecision(req, out("10.3.0.3")), null);
});

test.run();
