// Fuzzing the CNI server's request handling over its unix socket: mutated requests (every
// command, wrong types, missing fields, odd strings, deep nesting) and garbage lines never crash
// the server, and each refusal carries a numeric code and a message naming the field at fault.
// The server runs with its node in a namespace of its own and with `awaitClusterState`, so no ADD
// gets past validation to create anything; DEL and GC only look in that namespace.
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { type CniServer, startCniServer } from "../../runtime/cni/server.ts";
import { ErrorCode } from "../../runtime/cni/spec.ts";
import type { RawObject } from "../../runtime/sources/source.ts";
import { kernelTest } from "../support/kernel.ts";
import { createNetns, deleteNetns, uniqueNetnsName } from "../support/netns.ts";
import { mutate, mutation, oddValue, type Path } from "./manifest-gen.ts";
import { holds } from "./support.ts";

const test = suite("property: fuzzed CNI requests");

const COMMANDS = ["ADD", "DEL", "CHECK", "STATUS", "GC", "VERSION"] as const;

function request(command: (typeof COMMANDS)[number]): Record<string, unknown> {
  return {
    env: {
      command,
      containerId: "c1",
      netns: "/nonexistent-wpt/netns",
      ifName: "eth0",
      path: "/opt/cni/bin",
      args: { K8S_POD_NAMESPACE: "default", K8S_POD_NAME: "p" },
    },
    config: {
      cniVersion: "1.1.0",
      name: "wasmplane",
      type: "wasmplane",
      "cni.dev/valid-attachments": [{ containerID: "c1", ifname: "eth0" }],
      runtimeConfig: { ips: ["10.77.0.5"] },
    },
  };
}

interface Answer {
  ok: boolean;
  error?: { code: unknown; msg: unknown };
}

/** Sends one line, reads one answer line (bounded by a timeout). */
function send(socket: string, line: string, timeoutMs = 5000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const conn = createConnection(socket);
    let text = "";
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms to ${line.slice(0, 200)}`));
    }, timeoutMs);
    conn.setEncoding("utf8");
    conn.on("data", (d: string) => {
      text += d;
    });
    conn.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    conn.on("close", () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(text) as Answer);
      } catch {
        reject(new Error(`the answer is not JSON: ${JSON.stringify(text.slice(0, 200))}`));
      }
    });
    conn.write(`${line}\n`);
  });
}

const ENV_VARIABLE: Record<string, string> = {
  command: "CNI_COMMAND",
  containerId: "CNI_CONTAINERID",
  netns: "CNI_NETNS",
  ifName: "CNI_IFNAME",
  args: "CNI_ARGS",
  path: "CNI_PATH",
};

/** Codes that say the request itself is wrong: those must name the field. */
const INPUT_CODES = new Set<number>([
  ErrorCode.incompatibleVersion,
  ErrorCode.unsupportedField,
  ErrorCode.invalidEnvironment,
  ErrorCode.decodeFailure,
  ErrorCode.invalidConfig,
]);

/** Words a message may use for the changed path: its keys, their CNI_* names, "request". */
function namesFor(path: Path): string[] {
  const keys = path.filter((k): k is string => typeof k === "string");
  const out = ["request"];
  for (const k of keys) {
    out.push(k);
    if (ENV_VARIABLE[k]) out.push(ENV_VARIABLE[k]);
  }
  if (keys[0] === "config") out.push("network configuration", "cniVersion");
  return out;
}

/** Why an answer breaks the contract, or null. */
export function badAnswer(answer: Answer, paths: Path[]): string | null {
  if (answer.ok === true) return null;
  const e = answer.error;
  if (!e || typeof e.code !== "number" || !Number.isInteger(e.code)) return "an error without a numeric code";
  const msg = e.msg;
  if (typeof msg !== "string" || msg.trim() === "") return "an error without a message";
  if (e.code === ErrorCode.ioFailure) return `an internal error leaked as code 5 (I/O failure): ${msg}`;
  if (!INPUT_CODES.has(e.code)) return null; // try again later, unknown container, …: validation passed
  const words = paths.flatMap(namesFor);
  if (paths.length > 0 && !words.some((w) => msg.includes(w)))
    return `code ${e.code} "${msg}" names none of ${paths.map((p) => p.join(".")).join(", ")}`;
  return null;
}

/** Command names that are Object.prototype members: a plain-object lookup would find those. */
const PROTOTYPE_NAMES = ["toString", "constructor", "__proto__", "valueOf", "hasOwnProperty"];
const commandText = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom("add", "ADD ", "", ...PROTOTYPE_NAMES),
);

const fuzzedRequest = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .record({
        command: fc.constantFrom(...COMMANDS),
        mutations: fc.array(mutation, { minLength: 1, maxLength: 3 }),
      })
      .map(({ command, mutations }) => {
        const { object, paths } = mutate(request(command) as unknown as RawObject, mutations);
        return {
          line: JSON.stringify(object),
          paths,
          command: (object as { env?: { command?: unknown } }).env?.command,
        };
      }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ command: commandText, value: oddValue }).map(({ command, value }) => {
      const r = request("ADD") as { env: Record<string, unknown> };
      r.env.command = command;
      if (typeof value === "object" && value !== null && !Array.isArray(value)) r.env.args = value;
      return { line: JSON.stringify(r), paths: [["env", "command"]] as Path[] };
    }),
  },
  {
    weight: 1,
    arbitrary: fc
      .oneof(
        oddValue.map((v) => JSON.stringify(v) ?? "null"),
        fc.string({ maxLength: 40 }),
      )
      .filter((line) => !line.includes("\n"))
      .map((line) => ({ line, paths: [[]] as Path[] })),
  },
);

interface Node {
  server: CniServer;
  socket: string;
  stop(): Promise<void>;
}

async function startNode(): Promise<Node> {
  const netns = uniqueNetnsName("prop-cni");
  const dir = mkdtempSync(join(tmpdir(), "wpt-prop-cni-"));
  createNetns(netns);
  const cleanup = () => {
    deleteNetns(netns);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const socket = join(dir, "cni.sock");
    const server = await startCniServer({
      socketPath: socket,
      nodeNetns: netns,
      stateDir: join(dir, "state"),
      podCIDRs: ["10.77.0.0/24"],
      awaitClusterState: true,
      fsync: false,
    });
    return {
      server,
      socket,
      async stop() {
        await server.close().catch(() => {});
        cleanup();
      },
    };
  } catch (err) {
    cleanup();
    throw err;
  }
}

kernelTest(
  test,
  "fuzzed requests never crash the server; refusals have a code and name the field",
  async () => {
    const node = await startNode();
    try {
      await holds(
        "CNI request fuzz",
        fc.asyncProperty(fuzzedRequest, async ({ line, paths }) => {
          const answer = await send(node.socket, line);
          const why = badAnswer(answer, paths);
          if (why) throw new Error(`${why}\n  request: ${line.slice(0, 300)}`);
        }),
        150,
        5000,
      );
      // Still serving after all of it.
      const version = await send(node.socket, JSON.stringify(request("VERSION")));
      assert.ok(version.ok, "VERSION still answers");
    } finally {
      await node.stop();
    }
  },
);

test("the checker is not vacuous: an unnamed field, a missing code and a leaked error are caught", () => {
  assert.ok(badAnswer({ ok: false, error: { code: 4, msg: "bad input" } }, [["env", "ifName"]]));
  assert.is(
    badAnswer({ ok: false, error: { code: 4, msg: "CNI_IFNAME: too long" } }, [["env", "ifName"]]),
    null,
  );
  assert.ok(badAnswer({ ok: false, error: { code: "4", msg: "x" } }, []));
  assert.ok(badAnswer({ ok: false, error: { code: 5, msg: "x is not iterable" } }, []));
});

test.run();
