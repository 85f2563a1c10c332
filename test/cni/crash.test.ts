// Crash test: many ADD/DEL against a CNI server process that is killed (SIGKILL) at random points
// and restarted, as a runtime would drive it (a failed ADD is torn down with DEL, a failed DEL is
// retried). Afterwards: no address was ever live for two containers, and after a GC with the live
// attachments the durable store and the node's veths hold exactly the live containers.
// Requests go straight to the socket (the executable adds only Node's start-up per call, and its
// protocol path is covered by the other suites). WASMPLANE_CRASH_OPS sets the count (default 1,000, as the
// issue asks; about two minutes), WASMPLANE_CRASH_SECONDS the time bound (default 300).
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readlinkSync } from "node:fs";
import { createConnection } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ALIAS_PREFIX } from "../../runtime/cni/attachment.ts";
import type { CniWireResponse } from "../../runtime/cni/protocol.ts";
import { AllocationStore } from "../../runtime/ipam/store.ts";
import { kernelTest } from "../support/kernel.ts";
import { createNetns, deleteNetns, inNetns, uniqueNetnsName } from "../support/netns.ts";
import { tempDir } from "./harness.ts";

const test = suite("cni crash");
const OPS = Number(process.env.WASMPLANE_CRASH_OPS ?? 1000);
const TIME_BUDGET_MS = Number(process.env.WASMPLANE_CRASH_SECONDS ?? 300) * 1000;

function request(
  socket: string,
  command: string,
  containerId: string,
  netns: string,
  extra: Record<string, unknown> = {},
) {
  return new Promise<CniWireResponse>((resolve, reject) => {
    const conn = createConnection(socket);
    let buf = "";
    conn.setEncoding("utf8");
    conn.on("connect", () =>
      conn.write(
        `${JSON.stringify({
          env: { command, containerId, netns, ifName: "eth0", args: {}, path: "" },
          config: { cniVersion: "1.1.0", name: "wasmplane", type: "wasmplane", ...extra },
        })}\n`,
      ),
    );
    conn.on("data", (d: string) => {
      buf += d;
    });
    conn.on("error", reject);
    conn.on("close", () => {
      try {
        resolve(JSON.parse(buf) as CniWireResponse);
      } catch {
        reject(new Error(`connection closed without an answer (${buf.length} bytes)`));
      }
    });
  });
}

/** `cni serve` bundled into one plain script, so a restart costs Node's start-up, not tsx's. */
async function bundleServe(outFile: string): Promise<void> {
  await build({
    stdin: {
      contents: `import { serve } from "./serve-command.ts";\nserve(process.argv.slice(2)).then((c) => { process.exitCode = c; });`,
      resolveDir: fileURLToPath(new URL("../../runtime/cni/", import.meta.url)),
      loader: "ts",
    },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile: outFile,
    logLevel: "error",
  });
}

/**
 * A pod sandbox as runtimes make them: a process holding a fresh network namespace, addressed by
 * /proc/PID/ns/net. Cheaper than `ip netns add` (no bind mount), and gone when the process dies.
 */
class Sandbox {
  private constructor(readonly child: ChildProcess) {}
  static async create(): Promise<Sandbox> {
    const child = spawn("unshare", ["--net", "sleep", "600"], { stdio: "ignore" });
    const box = new Sandbox(child);
    // The namespace exists once unshare has exec'd sleep in it.
    for (let i = 0; i < 200; i++) {
      try {
        if (readlinkSync(box.path) !== readlinkSync("/proc/self/ns/net")) return box;
      } catch {
        // not started yet
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    child.kill("SIGKILL");
    throw new Error("unshare did not start");
  }
  get path(): string {
    return `/proc/${this.child.pid}/ns/net`;
  }
  destroy(): void {
    this.child.kill("SIGKILL");
  }
}

class ServerProcess {
  child: ChildProcess | null = null;
  starts = 0;
  constructor(
    private readonly script: string,
    private readonly args: string[],
  ) {}

  async start(): Promise<void> {
    this.starts++;
    const child = spawn(process.execPath, [this.script, ...this.args], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      let out = "";
      child.stdout!.setEncoding("utf8").on("data", (d: string) => {
        out += d;
        if (out.includes("ready\n")) resolve();
      });
      child.on("exit", (code) => reject(new Error(`cni serve exited with ${code} before ready`)));
    });
  }

  kill(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      child.once("exit", () => resolve());
      child.kill("SIGKILL");
    });
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    });
  }
}

kernelTest(
  test,
  `${OPS} ADD/DEL with the server killed at random points: no duplicates, no leaks after GC`,
  async () => {
    const dir = tempDir("crash");
    const node = uniqueNetnsName("cni-crash-node");
    const socket = join(dir.dir, "cni.sock");
    const stateDir = join(dir.dir, "state");
    const script = join(dir.dir, "serve.mjs");
    const server = new ServerProcess(script, [
      "--socket",
      socket,
      "--state-dir",
      stateDir,
      "--netns",
      node,
      "--pod-cidr",
      "10.55.0.0/27",
      "--pod-cidr",
      "fd55::/120",
    ]);
    const live = new Map<string, { sandbox: Sandbox; ips: string[] }>();
    const sandboxes: Sandbox[] = [];
    let seq = 0;
    let ops = 0;
    let kills = 0;
    let failedRequests = 0;
    let rng = 12345;
    const random = () => {
      rng = (rng * 1103515245 + 12345) % 2147483648;
      return rng / 2147483648;
    };
    // Sends a request; sometimes kills the server while it is in flight. Restarts a dead server.
    const send = async (
      command: string,
      containerId: string,
      netns: string,
      extra?: Record<string, unknown>,
    ) => {
      for (;;) {
        if (!server.child) await server.start();
        if (random() < 0.05) {
          kills++;
          // Kill the server this request goes to, not a later one that may still be starting.
          const target = server.child;
          setTimeout(
            () => {
              if (server.child === target) void server.kill();
            },
            Math.floor(random() * 40),
          );
        }
        try {
          const res = await request(socket, command, containerId, netns, extra);
          ops++;
          return res;
        } catch {
          failedRequests++;
          await server.kill();
          return null;
        }
      }
    };
    try {
      await bundleServe(script);
      createNetns(node);
      const started = Date.now();
      while (ops < OPS && Date.now() - started < TIME_BUDGET_MS) {
        const addNext = live.size === 0 || (live.size < 12 && random() < 0.55);
        if (addNext) {
          const id = `crash-${++seq}`;
          const sandbox = await Sandbox.create();
          sandboxes.push(sandbox);
          const res = await send("ADD", id, sandbox.path);
          if (res?.ok) {
            const ips = ((res.output?.ips ?? []) as { address: string }[]).map(
              (i) => i.address.split("/")[0],
            );
            for (const [other, o] of live)
              for (const ip of ips)
                assert.not.ok(o.ips.includes(ip), `${ip} handed to ${id} while ${other} holds it`);
            live.set(id, { sandbox, ips });
            continue;
          }
          assert.ok(res === null || res.ok === false);
          // A failed ADD is torn down by the runtime: DEL until it succeeds, then the sandbox goes.
          for (let i = 0; ; i++) {
            const del = await send("DEL", id, sandbox.path);
            if (del?.ok) break;
            assert.ok(i < 20, `DEL of ${id} keeps failing: ${JSON.stringify(del)}`);
          }
          sandbox.destroy();
        } else {
          const ids = [...live.keys()];
          const id = ids[Math.floor(random() * ids.length)];
          const { sandbox } = live.get(id)!;
          for (let i = 0; ; i++) {
            const del = await send("DEL", id, sandbox.path);
            if (del?.ok) break;
            assert.ok(i < 20, `DEL of ${id} keeps failing: ${JSON.stringify(del)}`);
          }
          live.delete(id);
          sandbox.destroy();
        }
      }
      // Every live pod still has its addresses.
      for (const { sandbox, ips } of live.values()) {
        const have = execFileSync(
          "nsenter",
          [`--net=${sandbox.path}`, "ip", "-j", "addr", "show", "dev", "eth0"],
          {
            encoding: "utf8",
          },
        );
        for (const ip of ips) assert.match(have, ip);
      }
      let gc: CniWireResponse | null = null;
      for (let i = 0; i < 20 && !gc?.ok; i++)
        gc = await send("GC", "", "", {
          "cni.dev/valid-attachments": [...live.keys()].map((id) => ({ containerID: id, ifname: "eth0" })),
        });
      assert.ok(gc?.ok, JSON.stringify(gc));
      await server.stop();
      const store = AllocationStore.open(join(stateDir, "ipam"));
      const held = store.list();
      store.close();
      const want = [...live.values()].flatMap((l) => l.ips).sort();
      assert.equal(held.map((a) => a.ip).sort(), want, "durable allocations after GC = live addresses");
      assert.is(new Set(held.map((a) => a.ip)).size, held.length);
      const veths = JSON.parse(inNetns(node, ["ip", "-j", "link", "show", "type", "veth"])) as {
        ifalias?: string;
      }[];
      const aliases = veths
        .map((v) => v.ifalias ?? "")
        .filter((a) => a.startsWith(ALIAS_PREFIX))
        .sort();
      assert.equal(
        aliases,
        [...live.keys()].map((id) => `${ALIAS_PREFIX}${id}/eth0`).sort(),
        "node veths = live pods",
      );
      process.stdout.write(
        `\n  crash test: ${ops} requests, ${kills} kills scheduled, ${failedRequests} requests lost, ${server.starts} server starts, ${live.size} live at the end, ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
      );
      assert.ok(server.starts > 1, "the server was restarted at least once");
    } finally {
      await server.kill();
      for (const sandbox of sandboxes) sandbox.destroy();
      deleteNetns(node);
      dir.remove();
    }
  },
);

test.run();
