// docs/first-plugin.md, run as written: its `sh test` blocks, in order, in a fresh directory outside
// the checkout. `setup` blocks are prepended to every block (one shell per block); the `test-sandbox`
// block is started in the background; `traffic-before` / `traffic-after` blocks run with the CLIENT
// and SANDBOX the sandbox printed, and their answers show the hot swap. Editing the page edits this test.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { fetchStatus } from "../../runtime/agent/status-server.ts";
import { lbOption, userDirectory } from "../../runtime/commands/sandbox.ts";
import { root, waitUntil } from "../agent/process-support.ts";
import { kernelTest } from "../support/kernel.ts";

const test = suite("walkthrough (docs/first-plugin.md)");

interface Block {
  tags: string[];
  body: string;
}

const doc = readFileSync(join(root, "docs/first-plugin.md"), "utf8");

export function testBlocks(markdown: string): Block[] {
  return [...markdown.matchAll(/^```sh (test[^\n]*)\n([\s\S]*?)^```$/gm)].map((m) => ({
    tags: m[1].trim().split(/\s+/),
    body: m[2],
  }));
}

const blocks = testBlocks(doc);
const setup = blocks.filter((b) => b.tags.includes("setup")).map((b) => b.body);
const steps = blocks.filter((b) => !b.tags.includes("setup"));
const sandboxAt = steps.findIndex((b) => b.tags[0] === "test-sandbox");

function script(block: Block): string {
  return ["set -euo pipefail", ...setup, block.body].join("\n");
}

/** Runs one block in `dir` and returns its output; a failing command fails the test with the output. */
function runBlock(block: Block, dir: string, env: Record<string, string> = {}): string {
  try {
    return execFileSync("bash", ["-c", script(block)], {
      cwd: dir,
      env: { ...process.env, WASMPLANE: root, ...env },
      encoding: "utf8",
      timeout: 120_000,
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`doc block failed:\n${block.body}\n${e.message}\n${e.stdout ?? ""}${e.stderr ?? ""}`);
  }
}

test("the page has the blocks this test runs", () => {
  assert.ok(setup.length >= 1, "a setup block");
  assert.ok(sandboxAt > 0, "build, test and lock blocks before a test-sandbox block");
  for (const tag of ["traffic-before", "traffic-after"])
    assert.ok(
      steps.some((b) => b.tags.includes(tag)),
      `a ${tag} block`,
    );
});

test("sandbox flags: plugin paths from the user's directory, also under `npm --prefix CHECKOUT start`", () => {
  assert.is(userDirectory({ npm_lifecycle_event: "start", INIT_CWD: "/home/v/p" }, "/checkout"), "/home/v/p");
  assert.is(userDirectory({ npm_lifecycle_event: "test", INIT_CWD: "/elsewhere" }, "/checkout"), "/checkout");
  assert.equal(lbOption({ "lb-plugin-dir": "build", "lb-lock": "p.lock.json", "lb-default": "pick" }, "/v"), {
    pluginDir: "/v/build",
    lockFile: "/v/p.lock.json",
    default: "pick",
  });
  assert.is(lbOption({}, "/v"), undefined);
  assert.throws(() => lbOption({ "lb-lock": "x" }, "/v"), /--lb-lock needs --lb-plugin-dir/);
});

test("write, build, test and lock a plugin from an empty directory", () => {
  const dir = mkdtempSync(join(tmpdir(), "wpt-walk-"));
  try {
    const outputs = steps.slice(0, sandboxAt).map((b) => runBlock(b, dir));
    assert.match(outputs.join("\n"), /^passed \(\d+ checks\)$/m);
    const lock = JSON.parse(readFileSync(join(dir, "plugins.lock.json"), "utf8"));
    assert.is(lock.plugins["build/pick.wasm"]?.version, "1.0.0");
    assert.ok(existsSync(join(dir, "build/pick.manifest.json")), "the sidecar manifest beside the module");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

interface Sandbox {
  child: ChildProcess;
  output: () => string;
}

function startSandboxBlock(block: Block, dir: string): Sandbox {
  // Its own process group, so the finally block can end npm and the sandbox whatever state they are in.
  const child = spawn("bash", ["-c", script(block)], {
    cwd: dir,
    env: { ...process.env, WASMPLANE: root },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  child.stdout?.on("data", (b: Buffer) => (output += b.toString()));
  child.stderr?.on("data", (b: Buffer) => (output += b.toString()));
  return { child, output: () => output };
}

/** The first match of `pattern` in the sandbox's output; fails at once when the sandbox exits first. */
async function waitForOutput(sb: Sandbox, pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = sb.output().match(pattern);
    if (m) return m;
    if (sb.child.exitCode !== null) throw new Error(`the sandbox exited before ${pattern}:\n${sb.output()}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}:\n${sb.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** SIGTERM (to the sandbox, else to the whole group), then SIGKILL after 40 s as the last resort. */
async function stopSandbox(sb: Sandbox, pid: string): Promise<void> {
  const group = sb.child.pid;
  const signal = (target: number, name: NodeJS.Signals) => {
    try {
      process.kill(target, name);
    } catch {
      // already gone
    }
  };
  if (pid) signal(Number(pid), "SIGTERM");
  else if (group && sb.child.exitCode === null) signal(-group, "SIGTERM");
  else return;
  await waitUntil(
    "the sandbox to remove itself",
    () => /removed sandbox|could not remove/.test(sb.output()) || null,
    40_000,
  ).catch(() => group && signal(-group, "SIGKILL"));
}

function answers(output: string): string[] {
  return output.split("\n").filter((l) => l !== "");
}

function sandboxNamespaces(prefix: string): string[] {
  return execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
    .split("\n")
    .map((l) => l.split(" ")[0])
    .filter((n) => n.startsWith(`${prefix}-`));
}

kernelTest(test, "the sandbox runs the plugin, and a re-lock and SIGHUP swap it under traffic", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wpt-walk-"));
  let sb: Sandbox | null = null;
  let pid = "";
  try {
    for (const b of steps.slice(0, sandboxAt)) runBlock(b, dir);
    const sandbox = startSandboxBlock(steps[sandboxAt], dir);
    sb = sandbox;
    await waitForOutput(sandbox, /^sandbox ready$/m, 90_000);
    pid = (await waitForOutput(sandbox, /reload them with: kill -HUP (\d+)$/m, 10_000))[1];
    const client = (await waitForOutput(sandbox, /client namespace (\S+)/, 1000))[1];
    const env = { CLIENT: client, SANDBOX: pid };

    const rest = steps.slice(sandboxAt + 1);
    const before = rest.findIndex((b) => b.tags.includes("traffic-before"));
    const after = rest.findIndex((b) => b.tags.includes("traffic-after"));
    const first = answers(runBlock(rest[before], dir, env));
    assert.equal(first, Array(6).fill("echo-a"), "every connection to the lowest address");

    for (const b of rest.slice(before + 1, after)) runBlock(b, dir, env);
    await waitForOutput(sandbox, /plugins reloaded: replaced pick[\s\S]*agent: sync/, 20_000);
    const status = await fetchStatus(`unix:/run/wasmplane/wpsb-${pid}.sock`);
    assert.is(status.lbPlugins?.find((p) => p.algorithm === "pick")?.version, "2.0.0", "the status shows v2");
    const second = answers(runBlock(rest[after], dir, env));
    assert.is(second.length, 6, second.join(","));
    assert.ok(
      second.every((a) => ["echo-a", "echo-b", "echo-c"].includes(a)),
      second.join(","),
    );
    assert.equal(new Set(second).size, 3, `round robin reaches every backend: ${second.join(",")}`);
  } finally {
    if (sb) await stopSandbox(sb, pid);
    const prefix = pid ? `wpsb-${pid}` : "";
    const left = prefix ? sandboxNamespaces(prefix) : [];
    for (const name of left) execFileSync("ip", ["netns", "delete", name]);
    rmSync(dir, { recursive: true, force: true });
    assert.equal(left, [], "namespaces left after SIGTERM");
    if (prefix) assert.match(sb?.output() ?? "", `removed sandbox ${prefix}`);
  }
});

test.run();
