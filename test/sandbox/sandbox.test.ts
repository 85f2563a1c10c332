// `npm start`'s sandbox as a child process: it builds the namespaces, the agent programs the node,
// connections from the client namespace through a service are answered by the example backends,
// and SIGTERM removes every namespace it created.
import { execFileSync } from "node:child_process";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { startWasmplane, tcpAnswer, udpAnswer } from "../agent/process-support.ts";
import { kernelTest } from "../support/kernel.ts";

const test = suite("sandbox");

function sandboxNamespaces(prefix: string): string[] {
  return execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
    .split("\n")
    .map((l) => l.split(" ")[0])
    .filter((n) => n.startsWith(`${prefix}-`));
}

kernelTest(
  test,
  "serves the example services from the client namespace and removes everything on SIGTERM",
  async () => {
    const child = startWasmplane(["sandbox"]);
    let prefix = "";
    try {
      prefix = (await child.waitFor(/^sandbox (wpsb-\d+):$/m))[1];
      await child.waitFor(/^sandbox ready$/m, 60_000);
      const client = (await child.waitFor(/client namespace (\S+)/))[1];
      assert.is(sandboxNamespaces(prefix).length, 5, "node, client and three pods");

      const backends = new Set(["echo-a", "echo-b", "echo-c"]);
      const tcp = Array.from({ length: 12 }, () => tcpAnswer(client, "10.96.0.10", 80));
      assert.ok(
        tcp.every((a) => backends.has(a)),
        `ClusterIP answers: ${tcp.join(",")}`,
      );
      assert.ok(new Set(tcp).size >= 2, `expected several backends: ${tcp.join(",")}`);
      assert.ok(backends.has(udpAnswer(client, "10.96.0.10", 53)), "UDP through the ClusterIP");
      const tcp6 = Array.from({ length: 6 }, () => tcpAnswer(client, "fd00:96::10", 80));
      assert.ok(
        tcp6.every((a) => backends.has(a)),
        `IPv6 ClusterIP answers: ${tcp6.join(",")}`,
      );
      assert.ok(backends.has(udpAnswer(client, "fd00:96::10", 53)), "UDP through the IPv6 ClusterIP");
      assert.ok(backends.has(tcpAnswer(client, "10.250.0.1", 30080)), "NodePort on the node IP");
      assert.is(tcpAnswer(client, "10.96.0.12", 80), "", "a service without endpoints must not answer");
      await child.waitFor(/connections per backend \(conntrack\): .*[1-9] tcp/, 10_000);
    } finally {
      const code = await child.stop("SIGTERM", 30_000);
      if (prefix) {
        assert.equal(sandboxNamespaces(prefix), [], "namespaces left after SIGTERM");
        assert.match(child.output(), `removed sandbox ${prefix}`);
      }
      assert.is(code, 0, child.output());
    }
  },
);

test.run();
