// A start that fails exits non-zero and leaves the node's rules as they were: here the manifest
// directory is missing, and the table a previous run left must stay byte-identical.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { JOURNAL_NAME } from "../../runtime/ipam/store.ts";
import { kernelTest } from "../support/kernel.ts";
import { createNetns, deleteNetns, uniqueNetnsName } from "../support/netns.ts";
import { type Child, startWasmplane } from "./process-support.ts";

const test = suite("agent failed start");

kernelTest(
  test,
  "a missing manifest directory: exit 1, the table untouched, the CNI socket gone",
  async () => {
    const node = uniqueNetnsName("fst");
    const dir = mkdtempSync(join(tmpdir(), "wpt-fst-"));
    try {
      createNetns(node);
      // What a previous run left: a table with a service rule.
      execFileSync("ip", ["netns", "exec", node, "nft", "-f", "-"], {
        input:
          "table inet wasmplane {\n chain svc-a { ip daddr 10.96.0.10 tcp dport 80 counter accept; }\n}\n",
      });
      const before = execFileSync("ip", ["netns", "exec", node, "nft", "list", "ruleset"], {
        encoding: "utf8",
      });
      const config = join(dir, "agent.yaml");
      const socket = join(dir, "cni.sock");
      writeFileSync(
        config,
        `manifests: ${join(dir, "missing")}\nnetns: ${node}\nnodeName: n1\nnodeIPs: [10.250.0.1]\nclusterCIDRs: [10.73.0.0/16]\nserviceCIDRs: [10.96.0.0/16]\nresyncInterval: 1s\ncni: {socket: ${socket}, stateDir: ${join(dir, "state")}, routing: none}\n`,
      );
      const agent = startWasmplane(["agent", "--config", config]);
      const exited = await Promise.race([
        new Promise<number | null>((resolve) => agent.process.once("exit", (code) => resolve(code))),
        new Promise<"running">((resolve) => setTimeout(() => resolve("running"), 15_000)),
      ]);
      if (exited === "running") await agent.stop("SIGKILL");
      assert.is(exited, 1, `exit code; output:\n${agent.output()}`);
      assert.match(agent.output(), `manifests directory ${join(dir, "missing")} does not exist`);
      const after = execFileSync("ip", ["netns", "exec", node, "nft", "list", "ruleset"], {
        encoding: "utf8",
      });
      assert.is(after, before, "the table changed");
      assert.not.ok(existsSync(socket), "the CNI socket was left behind");
    } finally {
      deleteNetns(node);
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

kernelTest(
  test,
  "a second agent on the same namespace refuses to start; a dead agent's lock is taken over",
  async () => {
    const node = uniqueNetnsName("lck");
    const dir = mkdtempSync(join(tmpdir(), "wpt-lck-"));
    const agents: Child[] = [];
    try {
      createNetns(node);
      mkdirSync(join(dir, "manifests"));
      const config = (name: string) => {
        const path = join(dir, `${name}.yaml`);
        writeFileSync(
          path,
          `manifests: ${join(dir, "manifests")}\nnetns: ${node}\nnodeName: n1\nnodeIPs: [10.250.0.1]\nclusterCIDRs: [10.73.0.0/16]\nserviceCIDRs: [10.96.0.0/16]\nstatusAddress: "unix:${join(dir, `${name}.sock`)}"\nlockDir: ${dir}\n`,
        );
        return path;
      };
      const first = startWasmplane(["agent", "--config", config("first")]);
      agents.push(first);
      await first.waitFor(/sync full/);
      const second = startWasmplane(["agent", "--config", config("second")]);
      agents.push(second);
      const code = await new Promise<number | null>((resolve) => second.process.once("exit", resolve));
      assert.is(code, 1, second.output());
      assert.match(
        second.output(),
        `another agent (pid ${first.process.pid}) programs network namespace ${node}`,
      );
      // The first agent dies without cleaning up; its lock names a dead PID and is taken over.
      await first.stop("SIGKILL");
      const third = startWasmplane(["agent", "--config", config("third")]);
      agents.push(third);
      await third.waitFor(/sync full/);
      assert.is(await third.stop("SIGTERM"), 0, third.output());
      assert.not.ok(existsSync(join(dir, `agent-${node}.lock`)), "the lock file outlived a clean stop");
    } finally {
      for (const a of agents) await a.stop("SIGKILL");
      deleteNetns(node);
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

kernelTest(
  test,
  "a corrupt IPAM journal, a bad --pod-cidr: exit non-zero at once, naming the file or flag",
  async () => {
    const node = uniqueNetnsName("jrn");
    const dir = mkdtempSync(join(tmpdir(), "wpt-jrn-"));
    try {
      createNetns(node);
      mkdirSync(join(dir, "manifests"));
      mkdirSync(join(dir, "state", "ipam"), { recursive: true });
      const journal = join(dir, "state", "ipam", JOURNAL_NAME);
      writeFileSync(journal, '{"op":"add","allocs":[]}\nGARBAGE\n{"op":"add","allocs":[]}\n');
      const config = join(dir, "agent.yaml");
      writeFileSync(
        config,
        `manifests: ${join(dir, "manifests")}\nnetns: ${node}\nnodeName: n1\nnodeIPs: [10.250.0.1]\nstatusAddress: ""\nlockDir: ${dir}\ncni: {socket: ${join(dir, "cni.sock")}, stateDir: ${join(dir, "state")}, routing: none}\n`,
      );
      const exitOf = async (child: Child) =>
        Promise.race([
          new Promise<number | null>((resolve) => child.process.once("exit", resolve)),
          new Promise<"running">((resolve) => setTimeout(() => resolve("running"), 15_000)),
        ]).finally(() => child.stop("SIGKILL"));
      const agent = startWasmplane(["agent", "--config", config]);
      assert.is(await exitOf(agent), 1, agent.output());
      assert.match(agent.output(), `${journal}: line 2 is not JSON`);
      const serve = startWasmplane([
        "cni",
        "serve",
        "--pod-cidr",
        "10.0.0.0/99",
        "--socket",
        join(dir, "x.sock"),
      ]);
      assert.is(await exitOf(serve), 2, serve.output());
      assert.match(serve.output(), "--pod-cidr: '10.0.0.0/99': prefix length must be 0-32");
    } finally {
      deleteNetns(node);
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test.run();
