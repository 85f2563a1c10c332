// The conformance suite against wasmplane: the installed executable (the static binary built from
// runtime/cni/shim.c), forwarding to a CNI server (in this process) whose node is a network
// namespace; portmap chained after it. Then the executable's own behaviour against a stand-in agent.
import { readFileSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { installCni } from "../../runtime/cni/install.ts";
import { MAX_REQUEST_BYTES } from "../../runtime/cni/protocol.ts";
import { type CniServer, startCniServer } from "../../runtime/cni/server.ts";
import { defineConformanceSuite } from "./conformance.ts";
import { ConflistRunner, invoke, linkReferencePlugins, tempDir } from "./harness.ts";

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

// The executable itself (runtime/cni/shim.c), against a stand-in agent on a unix socket: what it
// sends, what it prints, and what it refuses. No kernel needed.
const shim = suite("cni executable (static binary)");

interface StandIn {
  socket: string;
  /** The request lines received, parsed. */
  received: Record<string, unknown>[];
  raw: string[];
  close(): Promise<void>;
}

/** A socket that answers each request line with `answer` (or never, when it is null). */
function standIn(dir: string, answer: string | null): Promise<StandIn> {
  const socket = join(dir, "agent.sock");
  const received: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const server = createServer((conn) => {
    let buffer = "";
    conn.setEncoding("utf8");
    conn.on("data", (chunk: string) => {
      buffer += chunk;
      const nl = buffer.indexOf("\n");
      if (nl < 0) return;
      raw.push(buffer.slice(0, nl));
      received.push(JSON.parse(buffer.slice(0, nl)));
      if (answer !== null) conn.end(`${answer}\n`);
    });
    conn.on("error", () => {});
  });
  return new Promise((resolve) =>
    server.listen(socket, () =>
      resolve({
        socket,
        received,
        raw,
        close: () => new Promise<void>((done) => server.close(() => done())),
      }),
    ),
  );
}

const PT_INTERP = 3;

/** The p_type of each program header of a 64-bit little-endian ELF file. */
function programHeaderTypes(elf: Buffer): number[] {
  const phoff = Number(elf.readBigUInt64LE(32));
  const size = elf.readUInt16LE(54);
  const count = elf.readUInt16LE(56);
  return Array.from({ length: count }, (_, i) => elf.readUInt32LE(phoff + i * size));
}

shim("cni install writes a static executable that runs without Node or shared libraries", async () => {
  const dir = tempDir("static");
  try {
    const { executable } = await installCni({ binDir: dir.dir, confDir: dir.dir });
    const head = readFileSync(executable).subarray(0, 4);
    assert.equal([...head], [0x7f, 0x45, 0x4c, 0x46], "an ELF file");
    assert.ok(statSync(executable).mode & 0o100, "executable bit");
    // A static binary has no program interpreter (PT_INTERP): the dynamic loader is never needed.
    assert.not.ok(programHeaderTypes(readFileSync(executable)).includes(PT_INTERP), "no PT_INTERP");
    assert.ok(programHeaderTypes(readFileSync("/bin/sh")).includes(PT_INTERP), "the check can fail");
    const version = await invoke({ bin: executable, command: "VERSION", config: "", env: { PATH: "" } });
    assert.is(version.code, 0, version.stdout + version.stderr);
    assert.equal(version.json?.supportedVersions, ["0.4.0", "1.0.0", "1.1.0"]);
  } finally {
    dir.remove();
  }
});

shim("the request is one line: the config verbatim minus whitespace, the environment escaped", async () => {
  const dir = tempDir("wire");
  const agent = await standIn(
    dir.dir,
    JSON.stringify({ ok: true, output: { cniVersion: "1.0.0", ips: [] } }),
  );
  try {
    const { executable } = await installCni({ binDir: dir.dir, confDir: dir.dir });
    const config = `{\n  "cniVersion": "1.0.0",\n  "agentSocket": ${JSON.stringify(agent.socket)},\n  "x": [1, 2.5e3, "tab\\t\\u00e9 \\"q\\""],\n  "n": {"a": null, "b": true}\n}\n`;
    const res = await invoke({
      bin: executable,
      command: "ADD",
      containerId: "c-1",
      netns: "/run/netns/x",
      ifName: "eth0",
      args: 'IgnoreUnknown=1;K8S_POD_NAME=a"b\\c;;EMPTY=',
      cniPath: "/opt/cni/bin",
      config,
    });
    assert.is(res.code, 0, res.stdout);
    assert.equal(res.json, { cniVersion: "1.0.0", ips: [] });
    assert.is(agent.raw.length, 1);
    assert.not.match(agent.raw[0], /\s"|":\s|,\s/, "no whitespace between tokens");
    assert.ok(agent.raw[0].includes('2.5e3,"tab\\t\\u00e9 \\"q\\""'), "tokens copied verbatim");
    assert.equal(agent.received[0], {
      env: {
        command: "ADD",
        containerId: "c-1",
        netns: "/run/netns/x",
        ifName: "eth0",
        args: { IgnoreUnknown: "1", K8S_POD_NAME: 'a"b\\c', EMPTY: "" },
        path: "/opt/cni/bin",
      },
      config: JSON.parse(config),
    });
  } finally {
    await agent.close();
    dir.remove();
  }
});

shim("the agent's refusal is printed in the config's version with its code, msg and details", async () => {
  const dir = tempDir("refusal");
  const answer = { ok: false, error: { code: 103, msg: 'ip: "wp1" failed\nline 2', details: "détails" } };
  const agent = await standIn(dir.dir, JSON.stringify(answer));
  try {
    const { executable } = await installCni({ binDir: dir.dir, confDir: dir.dir });
    const res = await invoke({
      bin: executable,
      command: "DEL",
      containerId: "c1",
      ifName: "eth0",
      config: { cniVersion: "0.4.0", agentSocket: agent.socket },
    });
    assert.is(res.code, 1);
    assert.equal(res.json, { cniVersion: "0.4.0", ...answer.error });
  } finally {
    await agent.close();
    dir.remove();
  }
});

shim("a silent agent times out with 11, an invalid answer is 6, an oversized config is 7", async () => {
  const dir = tempDir("limits");
  const silent = await standIn(dir.dir, null);
  try {
    const { executable } = await installCni({ binDir: dir.dir, confDir: dir.dir });
    const base = {
      bin: executable,
      command: "ADD",
      containerId: "c1",
      netns: "/proc/self/ns/net",
      ifName: "eth0",
    };
    const slow = await invoke({
      ...base,
      config: { cniVersion: "1.0.0", agentSocket: silent.socket, timeoutSeconds: 0.3 },
    });
    assert.is(slow.json?.code, 11, slow.stdout);
    assert.match(String(slow.json?.msg), "no answer within 300 ms");
    const big = { cniVersion: "1.0.0", agentSocket: silent.socket, pad: "x".repeat(MAX_REQUEST_BYTES) };
    const large = await invoke({ ...base, config: big });
    assert.is(large.json?.code, 7, large.stdout.slice(0, 300));
    assert.match(String(large.json?.msg), "too large");
    assert.is(silent.received.length, 1, "the oversized request never reached the agent");
  } finally {
    await silent.close();
    dir.remove();
  }
  const dir2 = tempDir("garbage");
  const garbage = await standIn(dir2.dir, "{not json");
  try {
    const { executable } = await installCni({ binDir: dir2.dir, confDir: dir2.dir });
    const res = await invoke({
      bin: executable,
      command: "STATUS",
      config: { cniVersion: "1.1.0", agentSocket: garbage.socket },
    });
    assert.is(res.json?.code, 6, res.stdout);
    assert.match(String(res.json?.msg), "invalid JSON");
  } finally {
    await garbage.close();
    dir2.remove();
  }
});

shim("strict JSON: trailing text, comments, bad escapes and deep nesting are refused with 6", async () => {
  const dir = tempDir("strict");
  try {
    const { executable } = await installCni({ binDir: dir.dir, confDir: dir.dir });
    const base = {
      bin: executable,
      command: "ADD",
      containerId: "c1",
      netns: "/proc/self/ns/net",
      ifName: "eth0",
    };
    for (const text of [
      '{"cniVersion":"1.0.0"} x',
      '{"cniVersion":"1.0.0",}',
      '{"cniVersion":"1.0.0" /* c */}',
      '{"cniVersion":"1.0\\x"}',
      '{"a":01}',
      '{"a":"\u0001"}',
      `{"a":${"[".repeat(2000)}${"]".repeat(2000)}}`,
    ]) {
      const res = await invoke({ ...base, config: text });
      assert.is(res.code, 1, text.slice(0, 40));
      assert.is(res.json?.code, 6, `${text.slice(0, 40)}: ${res.stdout}`);
    }
    // A string cniVersion with escapes is decoded before it is compared.
    const escaped = await invoke({ ...base, command: "VERSION", config: '{"cniVersion":"1.\\u0030.0"}' });
    assert.is(escaped.json?.cniVersion, "1.0.0");
  } finally {
    dir.remove();
  }
});

shim(
  "the JSON validator accepts exactly what JSON.parse accepts (random and mutated documents)",
  async () => {
    const dir = tempDir("fuzz");
    try {
      const { executable } = await installCni({ binDir: dir.dir, confDir: dir.dir });
      const alphabet = [...'{}[]",:.-+eE0123456789 \ntruefalsn\\u/'];
      const mutated = fc
        .tuple(fc.json({ maxDepth: 3 }), fc.nat(), fc.nat(), fc.constantFrom(...alphabet), fc.boolean())
        .map(([text, at, len, ch, insert]) => {
          const i = at % (text.length + 1);
          return insert
            ? text.slice(0, i) + ch + text.slice(i)
            : text.slice(0, i) + text.slice(i + 1 + (len % 3));
        });
      const isObject = (text: string) => {
        try {
          const v = JSON.parse(text);
          return v !== null && typeof v === "object" && !Array.isArray(v);
        } catch {
          return false;
        }
      };
      await fc.assert(
        fc.asyncProperty(fc.oneof(fc.json({ maxDepth: 3 }), mutated, mutated), async (text) => {
          fc.pre(text.trim() !== "");
          const res = await invoke({ bin: executable, command: "VERSION", config: text });
          const accepted = res.code === 0;
          assert.is(accepted, isObject(text), `${JSON.stringify(text)}: ${res.stdout}`);
          if (!accepted) assert.is(res.json?.code, 6, res.stdout);
        }),
        { numRuns: 150 },
      );
    } finally {
      dir.remove();
    }
  },
);

shim.run();
