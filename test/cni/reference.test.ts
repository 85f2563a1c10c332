// The conformance suite against Debian's reference plugins: bridge + host-local, portmap chained.
import { join } from "node:path";
import { defineConformanceSuite } from "./conformance.ts";
import { ConflistRunner, tempDir } from "./harness.ts";

defineConformanceSuite({
  name: "reference bridge+host-local",
  v4Cidr: "10.78.1.0/24",
  v6Cidr: "fd78:1::/64",
  async start(node) {
    const state = tempDir("hostlocal");
    const conflist = {
      cniVersion: "1.0.0",
      name: "reference",
      plugins: [
        {
          type: "bridge",
          bridge: "wpbr0",
          isGateway: true,
          ipMasq: false,
          mtu: 1400,
          ipam: {
            type: "host-local",
            ranges: [[{ subnet: "10.78.1.0/24" }], [{ subnet: "fd78:1::/64" }]],
            routes: [{ dst: "0.0.0.0/0" }, { dst: "::/0" }],
            dataDir: join(state.dir, "host-local"),
          },
        },
        { type: "portmap", capabilities: { portMappings: true }, snat: true },
      ],
    };
    return {
      runner: new ConflistRunner(conflist, "/usr/lib/cni", node.node),
      stop: async () => state.remove(),
    };
  },
});
