// The agent config's schemas, section by section: the defaults, an error for every kind of bad value
// naming the file or flag and the field, unknown keys refused with their path, and the help text and
// docs/operator.md listing every flag and key the schema knows.
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { agentUsage, ConfigError, parseAgentArgs } from "../../runtime/agent/config.ts";
import { agentFileSchema } from "../../runtime/agent/config-schema.ts";
import { flagKeys } from "../../runtime/agent/flags.ts";
import { lbSectionSchema } from "../../runtime/agent/lb-config.ts";
import { formatPath } from "../../runtime/config/schema.ts";
import { policySectionSchema } from "../../runtime/policy/config.ts";

const test = suite("agent config sections");

function fromFile(file: unknown, ...flags: string[]) {
  const parsed = parseAgentArgs(["--config", "/etc/x.json", ...flags], () => file);
  if (parsed.help) throw new Error("help");
  return parsed.config;
}

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    assert.instance(err, ConfigError);
    return (err as Error).message;
  }
  throw new Error("accepted");
}

test("defaults are the documented ones; an empty file and an empty section change nothing", () => {
  const expected = {
    nodeName: hostname(),
    nodeIPs: [],
    clusterCIDRs: [],
    serviceCIDRs: [],
    masqueradeAll: false,
    kubernetes: false,
    minSyncIntervalMs: 1000,
    resyncIntervalMs: 300_000,
    statusAddress: "unix:/run/wasmplane/status.sock",
    healthzBindAddress: "0.0.0.0:10256",
    metricsBindAddress: "127.0.0.1:10249",
    logFormat: "text",
    logLevel: "info",
    lb: { default: "random", grants: {} },
    cni: {},
    policy: { enabled: true, decider: "builtin" },
    manifests: "/m",
  };
  assert.equal(fromFile(null, "--manifests", "/m"), expected);
  assert.equal(fromFile({ manifests: "/m", lb: {}, policy: {} }), expected);
});

test("sections: given keys replace the defaults, the others stay", () => {
  const c = fromFile({
    manifests: "/m",
    lb: { grants: { maglev: ["log", "clock"] }, memoryCapMiB: 32 },
    policy: { decider: "wasm:policy" },
    cni: { mtu: 1450, vxlan: { vni: 7 } },
  });
  assert.equal(c.lb, { default: "random", grants: { maglev: ["log", "clock"] }, memoryCapMiB: 32 });
  assert.equal(c.policy, { enabled: true, decider: "wasm:policy" });
  assert.equal(c.cni, { mtu: 1450, vxlan: { vni: 7 } }, "kept as written, for pod networking to parse");
});

const fileErrors: [string, unknown, string][] = [
  ["not an object", ["a"], 'config /etc/x.json: must be an object, got ["a"]'],
  [
    "top-level type",
    { kubernetes: "yes" },
    'config /etc/x.json: kubernetes: must be true or false, got "yes"',
  ],
  [
    "comma list item",
    { clusterCIDR: "10.0.0.0/8,bad" },
    'config /etc/x.json: clusterCIDR[1]: must be a CIDR such as 10.244.0.0/16, got "bad"',
  ],
  ["enum", { logFormat: "xml" }, 'config /etc/x.json: logFormat: must be one of text, json, got "xml"'],
  [
    "namespace name",
    { netns: "a/b" },
    'config /etc/x.json: netns: must be a network namespace name, got "a/b"',
  ],
  [
    "lb capability",
    { lb: { grants: { maglev: ["log", "net"] } } },
    'config /etc/x.json: lb.grants.maglev[1]: must be one of log, random, clock, got "net"',
  ],
  [
    "lb grants not a list",
    { lb: { grants: { maglev: "log" } } },
    'config /etc/x.json: lb.grants.maglev: must be a list of capabilities, got "log"',
  ],
  [
    "lb number",
    { lb: { callBudgetMs: 0 } },
    "config /etc/x.json: lb.callBudgetMs: must be a positive number, got 0",
  ],
  [
    "lb unknown key",
    { lb: { defualt: "maglev" } },
    "config /etc/x.json: lb.defualt: unknown option (known: default, plugins, pluginDir, lockFile, grants, memoryCapMiB, callBudgetMs)",
  ],
  [
    "policy value",
    { policy: { decider: 3 } },
    "config /etc/x.json: policy.decider: must be a non-empty string, got 3",
  ],
  [
    "policy unknown key",
    { policy: { lock: "x" } },
    "config /etc/x.json: policy.lock: unknown option (known: enabled, decider, pluginLock)",
  ],
  ["cni not an object", { cni: "yes" }, 'config /etc/x.json: cni: must be an object, got "yes"'],
  [
    "cni nested value",
    { cni: { vxlan: { port: 70000 } } },
    "config /etc/x.json: cni.vxlan.port: must be an integer 1-65535, got 70000",
  ],
  [
    "cni nested unknown key",
    { cni: { vxlan: { vnid: 1 } } },
    "config /etc/x.json: cni.vxlan.vnid: unknown option (known: device, vni, port, mtu)",
  ],
];

for (const [name, file, message] of fileErrors) {
  test(`file error: ${name}`, () => {
    const content = Array.isArray(file) ? file : { manifests: "/m", ...(file as object) };
    assert.is(
      refusal(() => fromFile(content)),
      message,
    );
  });
}

test("every bad field is reported, one line each", () => {
  assert.is(
    refusal(() => fromFile({ manifests: "/m", nodeZone: 1, lb: { default: "" }, cni: { sockett: "/x" } })),
    [
      "config /etc/x.json: nodeZone: must be a string, got 1",
      'config /etc/x.json: lb.default: must be a non-empty string, got ""',
      "config /etc/x.json: cni.sockett: unknown option (known: enabled, socket, stateDir, mtu, ipam, pluginLock, routing, vxlan, reconcilePods, reconcileIntervalSeconds)",
    ].join("\n"),
  );
});

test("flags are checked by the same schema and named as flags", () => {
  const flags = (...args: string[]) =>
    refusal(() => parseAgentArgs(["--manifests", "/m", ...args], () => ({})));
  assert.is(flags("--lb-default", ""), '--lb-default: must be a non-empty string, got ""');
  assert.is(
    flags("--cluster-cidr", "10.0.0.0/8", "--cluster-cidr", "fd00::/64,nope"),
    '--cluster-cidr[2]: must be a CIDR such as 10.244.0.0/16, got "nope"',
  );
  assert.is(flags("--netns", "a b"), '--netns: must be a network namespace name, got "a b"');
  assert.is(
    flags("--status-socket", "x", "--log-level", "loud"),
    '--log-level: must be one of debug, info, warn, error, got "loud"',
  );
});

test("--status-socket is an alias of --status-address, which wins", () => {
  const status = (...args: string[]) => {
    const parsed = parseAgentArgs(["--manifests", "/m", ...args], () => ({}));
    return parsed.help ? "" : parsed.config.statusAddress;
  };
  assert.is(status("--status-socket", "unix:/a"), "unix:/a");
  assert.is(status("--status-socket", "unix:/a", "--status-address", "unix:/b"), "unix:/b");
});

/** Every key of the file schema and of its `lb` and `policy` sections, as `lb.default`. */
function documentedKeys(): string[] {
  const aliases = new Set(["nodeIP", "clusterCIDR", "serviceCIDR"]);
  const nested = { lb: lbSectionSchema.shape, policy: policySectionSchema.shape };
  return Object.keys(agentFileSchema.shape)
    .filter((key) => !aliases.has(key))
    .flatMap((key) =>
      key in nested ? Object.keys(nested[key as keyof typeof nested]).map((k) => `${key}.${k}`) : [key],
    );
}

test("the help text lists every flag; docs/operator.md every flag and every key", () => {
  const docs = readFileSync(new URL("../../docs/operator.md", import.meta.url), "utf8");
  for (const [name, key] of flagKeys) {
    assert.ok(agentUsage.includes(`--${name}`), `--${name} in --help`);
    if (name !== "help") assert.ok(docs.includes(`\`--${name}`), `--${name} in docs/operator.md`);
    if (key) assert.ok(agentFileSchema.shape[key[0] as keyof typeof agentFileSchema.shape], formatPath(key));
  }
  for (const key of documentedKeys()) assert.ok(docs.includes(`\`${key}\``), `${key} in docs/operator.md`);
});

test.run();
