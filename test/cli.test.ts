import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";

const main = new URL("../runtime/main.ts", import.meta.url).pathname;
const root = new URL("../", import.meta.url).pathname;

/** `node --import tsx main.ts …` (faster than npx tsx), in `cwd`, bounded in time. */
function wasmplane(args: string[], cwd = root) {
  // tsx resolved here: from a temporary cwd, a bare `--import tsx` would not find it.
  return spawnSync(process.execPath, ["--import", import.meta.resolve("tsx"), main, ...args], {
    encoding: "utf8",
    cwd,
    timeout: 30_000,
  });
}

/**
 * What a --help could leave behind: files in its cwd and, for `plugin`, the build outputs. Not the
 * machine's namespaces or /run/wasmplane: tests running at the same time change those.
 */
function sideEffectState(cwd: string, command: string): string {
  const listing = (dir: string): string[] =>
    existsSync(dir)
      ? readdirSync(dir, { recursive: true, encoding: "utf8" })
          .map((f) => `${dir}/${f} ${statSync(join(dir, f)).mtimeMs}`)
          .sort()
      : [];
  return [...listing(cwd), ...(command === "plugin" ? listing(join(root, "build", "plugins")) : [])].join(
    "\n",
  );
}

const helpCases: string[][] = [
  ["agent"],
  ["cleanup"],
  ["cni"],
  ["cni", "install"],
  ["cni", "serve"],
  ["config-schema"],
  ["devcluster"],
  ["devcluster", "build"],
  ["devcluster", "start"],
  ["plugin"],
  ["plugin", "build"],
  ["plugin", "inspect"],
  ["plugin", "test"],
  ["plugin", "lock"],
  ["sandbox"],
  ["status"],
];

test("every command and subcommand answers --help: exit 0, usage text, no side effect", () => {
  const commands = readdirSync(join(root, "runtime", "commands"))
    .filter((f) => f.endsWith(".ts"))
    .map((f) => f.slice(0, -3));
  for (const c of commands)
    assert.ok(
      helpCases.some((h) => h[0] === c),
      `no --help case for ${c}`,
    );
  const cwd = mkdtempSync(join(tmpdir(), "wpt-cli-help-"));
  try {
    const failures: string[] = [];
    for (const args of helpCases) {
      const before = sideEffectState(cwd, args[0]);
      const started = Date.now();
      const res = wasmplane([...args, "--help"], cwd);
      const what = `wasmplane ${args.join(" ")} --help`;
      if (res.status !== 0) failures.push(`${what}: exit ${res.status}: ${res.stderr.trim().slice(0, 200)}`);
      else if (!/usage/i.test(res.stdout))
        failures.push(`${what}: no usage text in ${JSON.stringify(res.stdout)}`);
      else if (sideEffectState(cwd, args[0]) !== before) failures.push(`${what}: changed files`);
      else if (Date.now() - started > 15_000)
        failures.push(`${what}: took ${Date.now() - started}ms (did work?)`);
    }
    assert.equal(failures, []);
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});

test("--version prints the package version", () => {
  const res = wasmplane(["--version"]);
  assert.is(res.status, 0, res.stderr);
  const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
  assert.is(res.stdout.trim(), `wasmplane ${version}`);
});

test("help lists the commands", () => {
  const out = execFileSync("npx", ["tsx", main, "help"], { encoding: "utf8" });
  assert.match(out, "usage: wasmplane <command>");
  assert.match(out, "plugin");
});

test("an unknown command fails and names it", () => {
  const res = spawnSync("npx", ["tsx", main, "no-such-command"], { encoding: "utf8" });
  assert.is(res.status, 2);
  assert.match(res.stderr, "unknown command 'no-such-command'");
});

test("a runtime error names the flag it came from", () => {
  const lockDir = mkdtempSync(join(tmpdir(), "wpt-cli-"));
  try {
    const config = join(lockDir, "agent.yaml");
    writeFileSync(config, `lockDir: ${lockDir}\n`);
    const args = [
      "agent",
      "--kubeconfig",
      "/nonexistent/kubeconfig",
      "--status-address",
      "",
      "--config",
      config,
    ];
    const res = spawnSync("npx", ["tsx", main, ...args], { encoding: "utf8", timeout: 30_000 });
    assert.is(res.status, 1, res.stderr);
    assert.match(res.stderr, "--kubeconfig /nonexistent/kubeconfig: ENOENT");
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
});

test.run();
