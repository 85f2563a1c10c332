// The conformance suite against wasmplane: the installed executable, forwarding to a CNI server
// (in this process) whose node is a network namespace; portmap chained after it.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as assert from "uvu/assert";
import { installCni } from "../../runtime/cni/install.ts";
import { type CniServer, startCniServer } from "../../runtime/cni/server.ts";
import { defineConformanceSuite } from "./conformance.ts";
import { ConflistRunner, linkReferencePlugins, tempDir } from "./harness.ts";

let server: CniServer | undefined;

defineConformanceSuite({
  name: "wasmplane",
  v4Cidr: "10.77.1.0/24",
  v6Cidr: "fd77:1::/64",
  async start(node) {
    const dir = tempDir("ours");
    const binDir = join(dir.dir, "bin");
    const socket = join(dir.dir, "cni.sock");
    const { conflist } = await installCni({ binDir, confDir: join(dir.dir, "conf"), agentSocket: socket });
    linkReferencePlugins(binDir, ["portmap"]);
    server = await startCniServer({
      socketPath: socket,
      nodeNetns: node.node,
      stateDir: join(dir.dir, "state"),
      podCIDRs: ["10.77.1.0/24", "fd77:1::/64"],
      mtu: 1400,
    });
    const runner = new ConflistRunner(JSON.parse(readFileSync(conflist, "utf8")), binDir, node.node);
    return {
      runner,
      stop: async () => {
        await server?.close();
        dir.remove();
      },
    };
  },
  afterDel(ips) {
    const held = new Set(server!.allocations().map((a) => a.ip));
    for (const ip of ips) assert.not.ok(held.has(ip), `${ip} still allocated after DEL`);
  },
});
