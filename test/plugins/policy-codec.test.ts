// The `policy` kind's codec: an answer is checked field by field (each invalid answer is an error
// naming what is wrong), and the planner turns traps, timeouts and garbage into PolicyPluginErrors.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ByteWriter } from "../../runtime/plugins/envelope.ts";
import { writeLock } from "../../runtime/plugins/lock.ts";
import {
  decodePolicyOutput,
  type EncodedWorld,
  encodePolicyRequest,
} from "../../runtime/plugins/policy-codec.ts";
import { createWasmPolicyPlanner, PolicyPluginError } from "../../runtime/plugins/policy-planner.ts";
import type { Pod, Snapshot } from "../../runtime/store/objects.ts";
import { collectLog, tempDir, watToWasm } from "./fixtures.ts";

const test = suite("plugins: policy codec and faults");

function pod(name: string, ip: string): Pod {
  return {
    namespace: "x",
    name,
    uid: name,
    nodeName: "n1",
    podIPs: [ip],
    labels: { app: name },
    annotations: {},
    containerPorts: [{ name: "http", protocol: "TCP", port: 80 }],
    hostNetwork: false,
    phase: "Running",
  };
}

function world(): Snapshot {
  return {
    services: new Map(),
    endpointSlices: new Map(),
    nodes: new Map(),
    namespaces: new Map([["x", { name: "x", labels: { "kubernetes.io/metadata.name": "x" } }]]),
    pods: new Map([
      ["x/a", pod("a", "10.0.0.1")],
      ["x/b", pod("b", "10.0.0.2")],
    ]),
  };
}

function encoded(): EncodedWorld {
  return encodePolicyRequest(new ByteWriter(), world(), "n1", ["x/a"]);
}

/** An output envelope for one requested pod: header, then what `body` writes. */
function output(body: (w: ByteWriter) => void, count = 1): Uint8Array {
  const w = new ByteWriter();
  w.u32(0);
  w.u32(1);
  w.u32(0);
  w.u32(count);
  body(w);
  const bytes = w.bytes.slice(0, w.length);
  new DataView(bytes.buffer).setUint32(0, bytes.length, true);
  return bytes;
}

/** One ingress direction, isolated, with the given rule bytes. */
function ingress(w: ByteWriter, rules: ((w: ByteWriter) => void)[]): void {
  w.u8(1);
  w.u8(0);
  w.u8(1);
  w.u16(1);
  w.str("NetworkPolicy x/p");
  w.u16(rules.length);
  for (const r of rules) r(w);
}

function rule(tier: number, verdict: number, peers?: string, ports: [number, number, number][] = []) {
  return (w: ByteWriter) => {
    w.u8(tier);
    w.u8(verdict);
    w.u8(peers ? 1 : 0);
    w.str("NetworkPolicy x/p ingress[0]");
    if (peers) w.str(peers);
    w.u16(ports.length);
    for (const [p, first, last] of ports) {
      w.u8(p);
      w.u16(first);
      w.u16(last);
    }
  };
}

/** Sets section: one address set holding pod indices and CIDR string indices. */
function sets(w: ByteWriter, id: string | null, pods: number[], blocks: [number, number[]][] = []): void {
  w.u32(id === null ? 0 : 1);
  if (id !== null) {
    w.str(id);
    w.u32(pods.length);
    for (const p of pods) w.u32(p);
    w.u16(blocks.length);
    for (const [cidr, except] of blocks) {
      w.u32(cidr);
      w.u16(except.length);
      for (const e of except) w.u32(e);
    }
  }
  w.u32(0);
  w.u32(0);
}

test("a valid answer decodes into the contract, sets as address-sets.ts writes them", () => {
  const e = encoded();
  const cidr = e.strings.length;
  e.strings.push("10.0.0.0/24", "10.0.0.0/25");
  const d = decodePolicyOutput(
    output((w) => {
      ingress(w, [rule(1, 0, "np x/p ingress 0", [[0, 80, 80]])]);
      sets(w, "np x/p ingress 0", [1], [[cidr, [cidr + 1]]]);
    }),
    e,
  );
  assert.ok(!("batchError" in d));
  if ("batchError" in d) return;
  assert.equal(d.pods, [
    {
      pod: "x/a",
      addresses: ["10.0.0.1"],
      direction: "ingress",
      isolated: true,
      selectedBy: ["NetworkPolicy x/p"],
      rules: [
        {
          tier: "networkpolicy",
          verdict: "allow",
          origin: "NetworkPolicy x/p ingress[0]",
          peers: "np x/p ingress 0",
          ports: [{ protocol: "TCP", first: 80, last: 80 }],
        },
      ],
    },
  ]);
  // 10.0.0.0/25 is cut out of the block, so pod b (10.0.0.2) stays a single address.
  assert.equal(d.addressSets.get("np x/p ingress 0"), ["10.0.0.2", "10.0.0.128/25"]);
});

/** One ingress answer with `rules`, then a sets section with one set (or none). */
function answer(
  rules: ((w: ByteWriter) => void)[],
  set: [string | null, number[], [number, number[]][]?] = [null, []],
) {
  return output((w) => {
    ingress(w, rules);
    sets(w, set[0], set[1], set[2]);
  });
}

test("a request the ABI cannot carry is refused, naming the object", () => {
  const w = world();
  w.pods.set("x/a", {
    ...pod("a", "10.0.0.1"),
    podIPs: Array.from({ length: 256 }, (_, i) => `10.1.${i}.1`),
  });
  assert.throws(
    () => encodePolicyRequest(new ByteWriter(), w, "n1", ["x/a"]),
    /Pod x\/a: 256 IPs, more than the 255/,
  );
  assert.throws(
    () => encodePolicyRequest(new ByteWriter(), world(), "n1", ["x/a", "x/a"]),
    /pod x\/a: asked about twice/,
  );
  assert.throws(
    () => encodePolicyRequest(new ByteWriter(), world(), "n1", ["x/zz"]),
    /pod x\/zz: not in the snapshot/,
  );
});

const invalid: [string, (e: EncodedWorld) => Uint8Array, RegExp][] = [
  [
    "deny in the networkpolicy tier",
    () => answer([rule(1, 1)]),
    /answer for x\/a ingress rule 0: verdict deny in the networkpolicy tier/,
  ],
  ["pass outside the admin tier", () => answer([rule(2, 2)]), /rule 0: verdict pass outside the admin tier/],
  ["tiers out of order", () => answer([rule(2, 1), rule(0, 1)]), /rule 1: tier admin after tier baseline/],
  ["unknown verdict", () => answer([rule(0, 9)]), /rule 0: verdict 9 is not one of 0..2/],
  [
    "a port range backwards",
    () => answer([rule(1, 0, undefined, [[0, 90, 80]])]),
    /port 0: first port 90 is after last port 80/,
  ],
  ["an unknown protocol", () => answer([rule(1, 0, undefined, [[7, 80, 80]])]), /port 0: protocol 7/],
  [
    "a set the answer does not hold",
    () => answer([rule(1, 0, "nope")]),
    /peers names address set "nope", which the answer does not hold/,
  ],
  [
    "a pod index past the pods",
    () => answer([rule(1, 0, "s")], ["s", [5]]),
    /address set "s" pod 0: pod index 5 is past the pods \(2\)/,
  ],
  [
    "a string index past the table",
    () => answer([rule(1, 0, "s")], ["s", [], [[9999, []]]]),
    /address set "s" block 0: string index 9999 is past the table/,
  ],
  [
    "a block that is not a CIDR",
    (e) => answer([rule(1, 0, "s")], ["s", [], [[e.strings.indexOf("x"), []]]]),
    /address set "s" block 0: 'x' is not an IP address/,
  ],
  [
    "a direction twice",
    () =>
      output((w) => {
        w.u8(2);
        for (let i = 0; i < 2; i++) {
          w.u8(0);
          w.u8(1);
          w.u16(0);
          w.u16(0);
        }
        sets(w, null, []);
      }),
    /ingress: direction answered twice/,
  ],
  ["three directions", () => output((w) => w.u8(3)), /answer for x\/a: 3 directions \(at most 2\)/],
  ["fewer answers than pods asked", () => output(() => {}, 0), /output has 0 items for 1 inputs/],
  [
    "bytes after the problems",
    () =>
      output((w) => {
        w.u8(0);
        sets(w, null, []);
        w.u8(1);
      }),
    /1 bytes left after the last section/,
  ],
  [
    "a truncated set",
    () =>
      output((w) => {
        w.u8(0);
        w.u32(1);
        w.str("s");
        w.u32(1000);
      }),
    /output truncated at byte \d+ reading address set "s" pods/,
  ],
];

for (const [name, make, message] of invalid) {
  test(`invalid answer: ${name}`, () => {
    const e = encoded();
    assert.throws(() => decodePolicyOutput(make(e), e), message);
  });
}

/** A policy plugin written in WebAssembly text whose call runs `body`; its manifest is a sidecar. */
async function watPlugin(dir: string, name: string, body: string, data = ""): Promise<string> {
  const bytes = await watToWasm(
    `(module (import "env" "memory" (memory 1 16))
      (global (export "wasmplane_abi") i32 (i32.const 1))
      (func (export "wasmplane_alloc") (param i32) (result i32) (i32.const 4096))
      (func (export "wasmplane_free") (param i32))
      (func (export "wasmplane_call") (param i32 i32) (result i32) ${body})
      ${data})`,
    dir,
  );
  const file = join(dir, `${name}.wasm`);
  writeFileSync(file, bytes);
  writeFileSync(
    join(dir, `${name}.manifest.json`),
    JSON.stringify({ name, version: "0.0.1", kind: "policy", abi: 1, capabilities: [] }),
  );
  return file;
}

test("trap, timeout and garbage are PolicyPluginErrors naming plugin, call and cause", async () => {
  const dir = tempDir();
  const cases: [string, string, string, RegExp][] = [
    ["traps", "(unreachable)", "", /policy plugin traps call #1 failed: trapped: unreachable/],
    [
      "loops",
      "(loop $l (br $l)) (i32.const 0)",
      "",
      /policy plugin loops call #1 failed: exceeded its time budget of 300 ms/,
    ],
    // A well-formed header for one pod, then a direction count of 7.
    [
      "garbage",
      "(i32.const 64)",
      `(data (i32.const 64) "\\11\\00\\00\\00\\01\\00\\00\\00\\00\\00\\00\\00\\01\\00\\00\\00\\07")`,
      /policy plugin garbage call #1 failed: invalid answer: answer for x\/a: 7 directions/,
    ],
  ];
  for (const [name, body, data, message] of cases) {
    const file = await watPlugin(dir, name, body, data);
    const lockFile = join(dir, `${name}.lock.json`);
    writeLock(lockFile, [file]);
    const { lines, log } = collectLog();
    const planner = await createWasmPolicyPlanner({
      file,
      lockFile,
      nodeName: "n1",
      // Only the loop needs a short budget; the others get room for a loaded machine.
      callBudgetMs: name === "loops" ? 300 : 10_000,
      budgetPerPodMs: 0,
      log,
    });
    try {
      const err = await planner.decide(world(), ["x/a"]).then(
        () => null,
        (e: unknown) => e,
      );
      assert.instance(err, PolicyPluginError, name);
      assert.match((err as Error).message, message, (err as Error).message);
      assert.match((err as Error).message, /the last good rules stay/);
      assert.ok(
        lines.some((l) => message.test(l)),
        `${name} logged`,
      );
      assert.match(planner.status().lastError ?? "", message);
    } finally {
      await planner.close();
    }
  }
});

test("a module of another kind is refused for the policy slot", async () => {
  const dir = tempDir();
  const file = await watPlugin(dir, "lbish", "(i32.const 0)");
  writeFileSync(
    join(dir, "lbish.manifest.json"),
    JSON.stringify({ name: "lbish", version: "0.0.1", kind: "lb", abi: 1, capabilities: [] }),
  );
  const lockFile = join(dir, "lock.json");
  writeLock(lockFile, [file]);
  await createWasmPolicyPlanner({ file, lockFile, nodeName: "n1" }).then(
    () => assert.unreachable("admitted"),
    (err: Error) => assert.match(err.message, /found kind lb, expected kind policy/),
  );
});

test.run();
