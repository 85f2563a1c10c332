import { suite } from "uvu";
import * as assert from "uvu/assert";
import { parseAgentArgs } from "../../runtime/agent/config.ts";
import { parseDuration } from "../../runtime/agent/duration.ts";

const test = suite("agent config");

const file = (content: Record<string, unknown>) => () => content;

test("flags win over the config file; lists are replaced, not merged", () => {
  const parsed = parseAgentArgs(
    [
      "--config",
      "agent.yaml",
      "--node-ip",
      "192.168.1.10",
      "--node-ip",
      "fd00::10",
      "--min-sync-interval",
      "250ms",
    ],
    file({
      manifests: "/m",
      nodeName: "n1",
      nodeIPs: ["192.168.1.99"],
      clusterCIDR: "10.244.0.0/16,fd00:244::/56",
      serviceCIDRs: ["10.96.0.0/12"],
      masqueradeAll: true,
      minSyncInterval: "2s",
      resyncInterval: 60,
      lb: { default: "maglev", pluginDir: "build/plugins/lb", grants: { maglev: ["log"] } },
    }),
  );
  assert.ok(!parsed.help);
  if (parsed.help) return;
  const c = parsed.config;
  assert.equal(
    [
      c.manifests,
      c.nodeName,
      c.nodeIPs,
      c.clusterCIDRs,
      c.serviceCIDRs,
      c.masqueradeAll,
      c.minSyncIntervalMs,
      c.resyncIntervalMs,
      c.lb,
    ],
    [
      "/m",
      "n1",
      ["192.168.1.10", "fd00::10"],
      ["10.244.0.0/16", "fd00:244::/56"],
      ["10.96.0.0/12"],
      true,
      250,
      60_000,
      { default: "maglev", pluginDir: "build/plugins/lb", grants: { maglev: ["log"] } },
    ],
  );
});

const errors: [string, string[], Record<string, unknown>, string][] = [
  [
    "bad flag IP",
    ["--manifests", "/m", "--node-ip", "300.1.1.1"],
    {},
    '--node-ip[0]: must be an IP address, got "300.1.1.1"',
  ],
  [
    "bad file CIDR",
    ["--config", "c.yaml"],
    { manifests: "/m", serviceCIDRs: ["10.96.0.0/99"] },
    'config c.yaml: serviceCIDRs[0]: must be a CIDR such as 10.244.0.0/16, got "10.96.0.0/99"',
  ],
  ["unknown file key", ["--config", "c.yaml"], { manifest: "/m" }, "config c.yaml: manifest: unknown option"],
  [
    "bad duration",
    ["--manifests", "/m", "--resync-interval", "soon"],
    {},
    '--resync-interval: must be a duration such as 500ms, 1s or 2m, got "soon"',
  ],
  ["unknown flag", ["--manifests", "/m", "--nope"], {}, "Unknown option '--nope'"],
  ["no source", [], {}, "no source: give --manifests DIR, --kubernetes or --kubeconfig FILE"],
  [
    "two sources",
    ["--manifests", "/m", "--kubeconfig", "/k"],
    {},
    "two sources: give either --manifests or --kubernetes/--kubeconfig",
  ],
  [
    "bad netns",
    ["--manifests", "/m", "--netns", "a/b"],
    {},
    '--netns: must be a network namespace name, got "a/b"',
  ],
];

for (const [name, args, content, message] of errors) {
  test(`error: ${name}`, () => {
    try {
      parseAgentArgs(args, file(content));
      assert.unreachable("accepted");
    } catch (err) {
      assert.match((err as Error).message, message);
    }
  });
}

test("durations", () => {
  assert.equal(["500ms", "1s", "1m30s", "2", 0.5, "1x", ""].map(parseDuration), [
    500,
    1000,
    90_000,
    2000,
    500,
    null,
    null,
  ]);
});

test.run();
