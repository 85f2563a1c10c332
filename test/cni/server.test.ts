// wasmplane-specific behaviour of the executable and the CNI server, beyond the conformance suite:
// the agent being down, STATUS and GC (CNI 1.1), CHECK finding drift, result versions, MTU,
// repeated ADD, exhaustion, requests by pod annotation, and the install command.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { createConnection } from "node:net";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { hostInterfaceName } from "../../runtime/cni/attachment.ts";
import { installCni } from "../../runtime/cni/install.ts";
import { REQUESTED_IPS_ANNOTATION } from "../../runtime/cni/request.ts";
import { type CniServer, type CniServerOptions, startCniServer } from "../../runtime/cni/server.ts";
import { rangeDecider } from "../../runtime/ipam/range.ts";
import { ipamDeciderFromSpec, shippedPluginPath } from "../../runtime/ipam/select.ts";
import type { WasmIpamDecider } from "../../runtime/ipam/wasm.ts";
import { buildPlugins } from "../../runtime/plugins/build.ts";
import { kernelTest } from "../support/kernel.ts";
import { inNetns } from "../support/netns.ts";
import { interfaceAddresses, interfaceExists, invoke, resultIPs, TestNode, tempDir } from "./harness.ts";

const test = suite("cni server");
const main = new URL("../../runtime/main.ts", import.meta.url).pathname;

interface World {
  node: TestNode;
  bin: string;
  socket: string;
  server: CniServer;
  stop(): Promise<void>;
}

async function world(options: Partial<CniServerOptions> = {}): Promise<World> {
  const node = new TestNode();
  const dir = tempDir("server");
  try {
    const binDir = join(dir.dir, "bin");
    const socket = join(dir.dir, "cni.sock");
    await installCni({ binDir, confDir: join(dir.dir, "conf"), agentSocket: socket });
    const server = await startCniServer({
      socketPath: socket,
      nodeNetns: node.node,
      stateDir: join(dir.dir, "state"),
      podCIDRs: ["10.66.0.0/24", "fd66::/64"],
      mtu: 1400,
      ...options,
    });
    return {
      node,
      bin: join(binDir, "wasmplane"),
      socket,
      server,
      async stop() {
        await server.close().catch(() => {});
        node.destroy();
        dir.remove();
      },
    };
  } catch (err) {
    node.destroy();
    dir.remove();
    throw err;
  }
}

const config = (socket: string, cniVersion = "1.1.0", extra: Record<string, unknown> = {}) => ({
  cniVersion,
  name: "wasmplane",
  type: "wasmplane",
  agentSocket: socket,
  ...extra,
});

function call(
  w: World,
  command: string,
  containerId: string,
  netns: string | undefined,
  cfg = config(w.socket),
  args?: string,
) {
  return invoke({
    bin: w.bin,
    command,
    containerId,
    netns,
    ifName: "eth0",
    config: cfg,
    args,
    nodeNetns: w.node.node,
  });
}

test("cni install writes the executable (a static binary) and a 1.0.0 conflist with portmap after us", () => {
  const dir = tempDir("install");
  try {
    const res = spawnSync(
      "npx",
      ["tsx", main, "cni", "install", "--bin-dir", join(dir.dir, "bin"), "--conf-dir", join(dir.dir, "conf")],
      { encoding: "utf8" },
    );
    assert.is(res.status, 0, res.stderr);
    const exe = join(dir.dir, "bin", "wasmplane");
    assert.ok(statSync(exe).mode & 0o100, "executable bit");
    assert.equal([...readFileSync(exe).subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], "an ELF binary");
    const conflist = JSON.parse(readFileSync(join(dir.dir, "conf", "10-wasmplane.conflist"), "utf8"));
    assert.is(conflist.cniVersion, "1.0.0");
    assert.equal(
      conflist.plugins.map((p: { type: string }) => p.type),
      ["wasmplane", "portmap"],
    );
    const missing = spawnSync("npx", ["tsx", main, "cni", "install", "--bin-dir", dir.dir], {
      encoding: "utf8",
    });
    assert.is(missing.status, 2);
    assert.match(missing.stderr, "--conf-dir");
  } finally {
    dir.remove();
  }
});

test("agent down: ADD and DEL fail with 11 (try again later), STATUS with 50, VERSION still answers", async () => {
  const dir = tempDir("down");
  try {
    await installCni({ binDir: dir.dir, confDir: dir.dir });
    const bin = join(dir.dir, "wasmplane");
    const cfg = config(join(dir.dir, "no-agent.sock"));
    const add = await invoke({
      bin,
      command: "ADD",
      containerId: "c1",
      netns: "/proc/self/ns/net",
      ifName: "eth0",
      config: cfg,
    });
    assert.is(add.code, 1);
    assert.is(add.json?.code, 11);
    assert.match(String(add.json?.msg), "not reachable");
    assert.match(String(add.json?.msg), "no-agent.sock");
    const del = await invoke({ bin, command: "DEL", containerId: "c1", ifName: "eth0", config: cfg });
    assert.is(del.json?.code, 11);
    const status = await invoke({ bin, command: "STATUS", config: cfg });
    assert.is(status.json?.code, 50);
    const version = await invoke({ bin, command: "VERSION", config: cfg });
    assert.is(version.code, 0);
    assert.is(version.json?.cniVersion, "1.1.0");
  } finally {
    dir.remove();
  }
});

test("the executable refuses bad invocations itself, before contacting the agent", async () => {
  const dir = tempDir("refuse");
  try {
    await installCni({ binDir: dir.dir, confDir: dir.dir });
    const bin = join(dir.dir, "wasmplane");
    const cfg = config(join(dir.dir, "no-agent.sock"), "1.0.0");
    const base = { bin, containerId: "c1", netns: "/proc/self/ns/net", ifName: "eth0", config: cfg };
    const cases: [string, Parameters<typeof invoke>[0], number, string][] = [
      ["no CNI_COMMAND", { ...base, command: "" }, 4, "CNI_COMMAND is not set"],
      ["unknown command", { ...base, command: "FROB" }, 4, "FROB"],
      [
        "interface name too long",
        { ...base, command: "ADD", ifName: "a-very-long-ifname" },
        4,
        "longer than 15",
      ],
      ["bad container id", { ...base, command: "ADD", containerId: "../x" }, 4, "CNI_CONTAINERID"],
      ["bad CNI_ARGS", { ...base, command: "ADD", args: "novalue" }, 4, "CNI_ARGS"],
      ["stdin not an object", { ...base, command: "ADD", config: "[1,2]" }, 6, "JSON object"],
      ["no cniVersion", { ...base, command: "ADD", config: { name: "x" } }, 7, "cniVersion"],
      ["GC with 1.0.0", { ...base, command: "GC", config: cfg }, 1, "does not allow GC"],
    ];
    for (const [what, opts, code, msg] of cases) {
      const res = await invoke(opts);
      assert.is(res.code, 1, what);
      assert.is(res.json?.code, code, `${what}: ${res.stdout}`);
      assert.match(String(res.json?.msg), msg, what);
    }
    const emptyVersion = await invoke({ bin, command: "VERSION", config: "" });
    assert.is(emptyVersion.code, 0);
    assert.is(emptyVersion.json?.cniVersion, "1.1.0");
  } finally {
    dir.remove();
  }
});

kernelTest(test, "STATUS and GC need 1.1.0; GC releases what is not in the valid attachments", async () => {
  const w = await world();
  try {
    const [podA, pathA] = w.node.pod();
    const [, pathB] = w.node.pod();
    assert.is((await call(w, "STATUS", "", undefined)).code, 0);
    assert.is((await call(w, "STATUS", "", undefined, config(w.socket, "1.0.0"))).json?.code, 1);
    assert.is((await call(w, "GC", "", undefined, config(w.socket, "1.0.0"))).json?.code, 1);
    const a = await call(w, "ADD", "keep-me", pathA);
    assert.is(a.code, 0, a.stdout);
    const b = await call(w, "ADD", "orphan", pathB);
    assert.is(b.code, 0, b.stdout);
    assert.is(w.server.allocations().length, 4);
    const gc = await call(
      w,
      "GC",
      "",
      undefined,
      config(w.socket, "1.1.0", {
        "cni.dev/valid-attachments": [{ containerID: "keep-me", ifname: "eth0" }],
      }),
    );
    assert.is(gc.code, 0, gc.stdout);
    assert.equal([...new Set(w.server.allocations().map((x) => x.containerId))], ["keep-me"]);
    assert.not.ok(interfaceExists(w.node.node, hostInterfaceName("orphan", "eth0")), "orphan veth removed");
    assert.ok(interfaceExists(podA, "eth0"));
    const badGc = await call(
      w,
      "GC",
      "",
      undefined,
      config(w.socket, "1.1.0", { "cni.dev/valid-attachments": "x" }),
    );
    assert.is(badGc.json?.code, 7);
    const noList = await call(w, "GC", "", undefined, config(w.socket, "1.1.0"));
    assert.is(noList.json?.code, 7);
    assert.is(w.server.allocations().length, 2, "a GC without the list released nothing");
  } finally {
    await w.stop();
  }
});

kernelTest(
  test,
  "CHECK passes on a fresh attachment and names the drift when an address is removed",
  async () => {
    const w = await world();
    try {
      const [pod, path] = w.node.pod();
      const add = await call(w, "ADD", "chk", path);
      assert.is(add.code, 0, add.stdout);
      const prev = config(w.socket, "1.1.0", { prevResult: add.json });
      assert.is((await call(w, "CHECK", "chk", path, prev)).code, 0);
      const v4 = interfaceAddresses(pod, "eth0").find((ip) => !ip.includes(":"))!;
      inNetns(pod, ["ip", "addr", "del", `${v4}/32`, "dev", "eth0"]);
      const drift = await call(w, "CHECK", "chk", path, prev);
      assert.is(drift.json?.code, 102);
      assert.match(String(drift.json?.msg), v4);
      const unknown = await call(w, "CHECK", "nobody", path, prev);
      assert.is(unknown.json?.code, 3);
    } finally {
      await w.stop();
    }
  },
);

kernelTest(
  test,
  "results follow the config version, the MTU is applied, and a repeated ADD keeps the address",
  async () => {
    const w = await world();
    try {
      const [pod, path] = w.node.pod();
      const old = await call(w, "ADD", "ver", path, config(w.socket, "0.4.0"));
      assert.is(old.code, 0, old.stdout);
      const ips = old.json?.ips as { version: string; address: string }[];
      assert.equal(
        ips.map((i) => i.version),
        ["4", "6"],
      );
      const mtu = JSON.parse(inNetns(pod, ["ip", "-j", "link", "show", "dev", "eth0"]))[0].mtu;
      assert.is(mtu, 1400);
      const again = await call(w, "ADD", "ver", path, config(w.socket, "1.1.0"));
      assert.is(again.code, 0, again.stdout);
      const interfaces = again.json?.interfaces as { mtu?: number }[];
      assert.is(interfaces[1].mtu, 1400);
      assert.equal(
        resultIPs(again).map((i) => i.address),
        ips.map((i) => i.address),
      );
      assert.is(w.server.allocations().length, 2);
      const chained = await call(
        w,
        "ADD",
        "second",
        path,
        config(w.socket, "1.0.0", { prevResult: old.json }),
      );
      assert.is(chained.json?.code, 7);
    } finally {
      await w.stop();
    }
  },
);

kernelTest(test, "an exhausted pool refuses with 100, and a pod annotation requests an address", async () => {
  const w = await world({
    podCIDRs: ["10.66.0.0/30"],
    lookupPod: (ns, name) =>
      ns === "default" && name === "pinned"
        ? { annotations: { [REQUESTED_IPS_ANNOTATION]: "10.66.0.2" } }
        : undefined,
  });
  try {
    const [, p1] = w.node.pod();
    const [, p2] = w.node.pod();
    const [, p3] = w.node.pod();
    const pinned = await call(
      w,
      "ADD",
      "pinned",
      p1,
      config(w.socket),
      "K8S_POD_NAMESPACE=default;K8S_POD_NAME=pinned",
    );
    assert.is(pinned.code, 0, pinned.stdout);
    assert.is(resultIPs(pinned)[0].address, "10.66.0.2/32");
    assert.is((await call(w, "ADD", "c2", p2)).code, 0);
    const full = await call(w, "ADD", "c3", p3);
    assert.is(full.json?.code, 100);
    assert.match(String(full.json?.msg), "10.66.0.0/30");
    assert.not.ok(existsSync(`/proc/sys/net/ipv4/conf/${hostInterfaceName("c3", "eth0")}`));
  } finally {
    await w.stop();
  }
});

kernelTest(test, "ADD through a Wasm IPAM plugin (wasm:random) on the plugin host", async () => {
  if (!existsSync(shippedPluginPath("random"))) await buildPlugins();
  const ipam = (await ipamDeciderFromSpec("wasm:random")) as WasmIpamDecider;
  const w = await world({ ipam });
  try {
    const [pod, path] = w.node.pod();
    const add = await call(w, "ADD", "wasm-pod", path);
    assert.is(add.code, 0, add.stdout);
    const ips = resultIPs(add).map((i) => i.address.split("/")[0]);
    assert.equal(interfaceAddresses(pod, "eth0").sort(), [...ips].sort());
    assert.equal(
      w.server
        .allocations()
        .map((a) => a.ip)
        .sort(),
      [...ips].sort(),
    );
  } finally {
    await w.stop();
    await ipam.close();
  }
});

kernelTest(
  test,
  "reconcilePods releases allocations of pods the agent no longer knows, sparing young ones",
  async () => {
    const changes: number[] = [];
    const w = await world({ onAttachmentsChanged: () => void changes.push(Date.now()) });
    try {
      const [, p1] = w.node.pod();
      const [, p2] = w.node.pod();
      const args = (name: string) => `K8S_POD_NAMESPACE=default;K8S_POD_NAME=${name}`;
      assert.is((await call(w, "ADD", "known", p1, config(w.socket), args("known"))).code, 0);
      assert.is((await call(w, "ADD", "gone", p2, config(w.socket), args("gone"))).code, 0);
      assert.is(changes.length, 2, "each ADD notified the agent");
      const young = await w.server.reconcilePods(new Set(["default/known"]));
      assert.equal(young.released, []);
      const old = await w.server.reconcilePods(new Set(["default/known"]), 0);
      assert.is(old.released.length, 2);
      assert.equal([...new Set(w.server.allocations().map((a) => a.podName))], ["known"]);
      assert.not.ok(interfaceExists(w.node.node, hostInterfaceName("gone", "eth0")));
      assert.is(changes.length, 2, "the reconcile leaves the sync to its caller (it runs inside one)");
      assert.equal(
        w.server.attachments().map((a) => a.hostInterface),
        [hostInterfaceName("known", "eth0")],
      );
    } finally {
      await w.stop();
    }
  },
);

/** Sends one request over the socket as a client that gives up: it closes before any answer. */
function abandon(
  socket: string,
  containerId: string,
  netns: string,
  cfg: Record<string, unknown>,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const conn = createConnection(socket);
    const env = { command: "ADD", containerId, netns, ifName: "eth0", path: "/opt/cni/bin", args: {} };
    conn.on("connect", () =>
      conn.write(`${JSON.stringify({ env, config: cfg })}\n`, () => {
        conn.destroy();
        resolve();
      }),
    );
    conn.on("error", reject);
  });
}

kernelTest(test, "an ADD whose caller gave up is not carried out, or is rolled back", async () => {
  let gate: () => void = () => {};
  const opened = new Promise<void>((resolve) => {
    gate = resolve;
  });
  let entered: () => void = () => {};
  const slowEntered = new Promise<void>((resolve) => {
    entered = resolve;
  });
  const decided: string[] = [];
  const w = await world({
    ipam: {
      name: "gated",
      allocate: async (input) => {
        decided.push(input.request.containerId);
        if (input.request.containerId === "slow") {
          entered();
          await opened;
        }
        return rangeDecider.allocate(input);
      },
    },
  });
  try {
    const [, slowPath] = w.node.pod();
    const [, queuedPath] = w.node.pod();
    // "slow" is mid-ADD when its caller leaves: it is rolled back once it finishes.
    const conn = createConnection(w.socket);
    const env = {
      command: "ADD",
      containerId: "slow",
      netns: slowPath,
      ifName: "eth0",
      path: "/x",
      args: {},
    };
    conn.on("error", () => {});
    conn.write(`${JSON.stringify({ env, config: config(w.socket) })}\n`);
    await slowEntered;
    // "queued" waits behind it and its caller leaves too: it never runs.
    await abandon(w.socket, "queued", queuedPath, config(w.socket));
    conn.destroy();
    await new Promise((r) => setTimeout(r, 100));
    gate();
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal(decided, ["slow"], "the abandoned queued ADD reached the IPAM decider");
    assert.equal(w.server.allocations(), [], "an abandoned ADD kept its address");
    assert.not.ok(
      interfaceExists(w.node.node, hostInterfaceName("slow", "eth0")),
      "the rolled-back veth is there",
    );
    assert.not.ok(interfaceExists(w.node.node, hostInterfaceName("queued", "eth0")));
  } finally {
    gate();
    await w.stop();
  }
});

kernelTest(
  test,
  "before the cluster state is known ADD answers 11, and a config over 1 MiB says so",
  async () => {
    const w = await world({ podCIDRs: [], awaitClusterState: true });
    try {
      const [, path] = w.node.pod();
      const early = await call(w, "ADD", "early", path, config(w.socket, "1.0.0"));
      assert.is(early.json?.code, 11, early.stdout);
      assert.match(String(early.json?.msg), "has not read the cluster state yet");
      assert.is(early.json?.cniVersion, "1.0.0");
      w.server.clusterStateKnown();
      const known = await call(w, "ADD", "early", path, config(w.socket, "1.0.0"));
      assert.is(known.json?.code, 100, "with the state known and no pod CIDR, the pool is exhausted");
      // The executable refuses to send an oversized config, naming the problem.
      const big = await call(
        w,
        "ADD",
        "big",
        path,
        config(w.socket, "1.0.0", { pad: "x".repeat(1_100_000) }),
      );
      assert.is(big.json?.code, 7, big.stdout);
      assert.match(String(big.json?.msg), "network configuration too large");
      // A client of the socket that sends one anyway gets the reason, not a reset.
      const answer = await new Promise<string>((resolve, reject) => {
        const conn = createConnection(w.socket);
        let buf = "";
        conn.setEncoding("utf8");
        conn.on("connect", () => conn.end(`{"pad":"${"y".repeat(1_200_000)}"}\n`));
        conn.on("data", (d: string) => {
          buf += d;
        });
        conn.on("error", reject);
        conn.on("close", () => resolve(buf));
      });
      assert.match(answer, "network configuration is too large");
    } finally {
      await w.stop();
    }
  },
);

kernelTest(
  test,
  "an error found before the command runs is answered in the config's cniVersion",
  async () => {
    const w = await world();
    try {
      const res = await invoke({
        bin: w.bin,
        command: "ADD",
        containerId: "v",
        netns: "/run/netns/none",
        ifName: "eth0",
        config: config(w.socket, "0.4.0"),
        env: { CNI_CONTAINERID: undefined },
      });
      assert.is(res.code, 1);
      assert.is(res.json?.cniVersion, "0.4.0", res.stdout);
    } finally {
      await w.stop();
    }
  },
);

kernelTest(test, "a failing IPAM decider answers 11 and allocates nothing", async () => {
  const w = await world({
    ipam: {
      name: "broken",
      allocate: () => {
        throw new Error("trapped: unreachable");
      },
    },
  });
  try {
    const [pod, path] = w.node.pod();
    const res = await call(w, "ADD", "x", path);
    assert.is(res.json?.code, 11);
    assert.match(String(res.json?.msg), "IPAM (broken) failed: trapped");
    assert.is(w.server.allocations().length, 0);
    assert.not.ok(interfaceExists(pod, "eth0"));
  } finally {
    await w.stop();
  }
});

kernelTest(
  test,
  "the socket checks what a client sends as the executable would (no shell injection)",
  async () => {
    const w = await world();
    try {
      const send = (env: Record<string, unknown>) =>
        new Promise<string>((resolve, reject) => {
          const conn = createConnection(w.socket);
          let buf = "";
          conn.setEncoding("utf8");
          conn.on("connect", () => conn.write(`${JSON.stringify({ env, config: config(w.socket) })}\n`));
          conn.on("data", (d: string) => {
            buf += d;
          });
          conn.on("error", reject);
          conn.on("close", () => resolve(buf));
        });
      const env = {
        command: "ADD",
        containerId: "ok",
        netns: "/proc/self/ns/net",
        ifName: "eth0",
        args: {},
        path: "",
      };
      for (const bad of [
        { ...env, containerId: 'x"\nWASMPLANE_EOF\ntouch /tmp/pwned' },
        { ...env, netns: "/run/netns/x\nWASMPLANE_EOF" },
        { ...env, ifName: "e'th0" },
        { ...env, args: null },
      ]) {
        const answer = JSON.parse(await send(bad));
        assert.is(answer.ok, false);
        assert.ok([4, 6].includes(answer.error.code), JSON.stringify(answer));
      }
      assert.is(JSON.parse((await send({ ...env, command: "VERSION" })) || "{}").ok, true);
      assert.is(w.server.allocations().length, 0);
    } finally {
      await w.stop();
    }
  },
);

kernelTest(test, "the IPAM decider is swapped live; allocations carry over", async () => {
  const w = await world();
  try {
    const [, p1] = w.node.pod();
    const [, p2] = w.node.pod();
    const first = await call(w, "ADD", "before-swap", p1);
    assert.is(first.code, 0, first.stdout);
    const previous = await w.server.setIpam({
      name: "fixed",
      allocate: () => ({
        ok: true,
        addresses: [{ ip: "10.66.0.77", prefixLength: 32 }],
        routes: [{ dst: "0.0.0.0/0" }],
      }),
    });
    assert.is(previous.name, "range");
    const second = await call(w, "ADD", "after-swap", p2);
    assert.is(second.code, 0, second.stdout);
    assert.equal(
      resultIPs(second).map((i) => i.address),
      ["10.66.0.77/32"],
    );
    assert.is(w.server.allocations().length, 3, "the first pod's two addresses and the new one");
  } finally {
    await w.stop();
  }
});

kernelTest(test, "DEL after the pod namespace is gone releases the address and the veth", async () => {
  const w = await world();
  try {
    const [pod, path] = w.node.pod();
    assert.is((await call(w, "ADD", "gone", path)).code, 0);
    w.node.removePod(pod);
    const del = await call(w, "DEL", "gone", path);
    assert.is(del.code, 0, del.stdout);
    assert.is(w.server.allocations().length, 0);
    assert.not.ok(interfaceExists(w.node.node, hostInterfaceName("gone", "eth0")));
  } finally {
    await w.stop();
  }
});

test.run();
