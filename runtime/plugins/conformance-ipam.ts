// The `ipam` kit: vectors every IPAM plugin must answer validly (an address inside the pod CIDRs that
// no other attachment holds, or a refusal with a known reason), the outcomes no valid plugin can
// choose otherwise (a full pool is refused, a requested address that is free is the one given, a
// requested address another pod holds is refused), purity, batches, and the faults the host must
// contain. Strategy (sequential, hashed, requested-only) is the plugin's own business.
import type { IpamAllocation, IpamDecision, IpamInput } from "../ipam/decider.ts";
import { checkDecision } from "../ipam/wasm.ts";
import { decodeIpamDecision, encodeIpamRequest, IPAM_OP_ALLOCATE } from "../ipam/wasm-codec.ts";
import type { AdmittedPlugin } from "./admission.ts";
import type { Check, KitOptions } from "./conformance.ts";
import { HEADER_BYTES, inputEnvelope, readOutputHeader } from "./envelope.ts";
import { KIND_CODES } from "./kinds.ts";
import type { PluginWorker } from "./plugin-worker.ts";

const KIND = KIND_CODES.ipam;

function input(extra: Partial<IpamInput> = {}, requestedIPs: string[] = []): IpamInput {
  return {
    podCIDRs: ["10.244.1.0/24"],
    allocations: [],
    lastAllocated: {},
    request: { containerId: "c0ffee", ifName: "eth0", podNamespace: "ns", podName: "pod", requestedIPs },
    ...extra,
  };
}

function held(ip: string, i: number): IpamAllocation {
  return { ip, containerId: `other-${i}`, ifName: "eth0" };
}

type Expect = "valid" | "refused" | "includes-requested";

interface IpamVector {
  name: string;
  input: IpamInput;
  expect: Expect;
}

/** Named inputs and what any valid IPAM plugin must answer. */
export function ipamVectors(): IpamVector[] {
  const full = Array.from({ length: 256 }, (_, i) => held(`10.9.0.${i}`, i));
  return [
    { name: "first attachment, IPv4 /24", input: input(), expect: "valid" },
    {
      name: "dual stack, after earlier allocations",
      input: input({
        podCIDRs: ["10.244.2.0/24", "fd00:10:244:2::/64"],
        allocations: [held("10.244.2.2", 1), held("fd00:10:244:2::2", 1)],
        lastAllocated: { v4: "10.244.2.2", v6: "fd00:10:244:2::2" },
      }),
      expect: "valid",
    },
    { name: "IPv6 only", input: input({ podCIDRs: ["fd00:10:244:3::/64"] }), expect: "valid" },
    {
      name: "the attachment already holds an address (a retried ADD)",
      input: input({ allocations: [{ ip: "10.244.1.7", containerId: "c0ffee", ifName: "eth0" }] }),
      expect: "valid",
    },
    {
      name: "a full pool is refused",
      input: input({ podCIDRs: ["10.9.0.0/24"], allocations: full }, ["10.9.0.9"]),
      expect: "refused",
    },
    {
      name: "a requested address that is free is the one given",
      input: input({ allocations: [held("10.244.1.2", 1)] }, ["10.244.1.77"]),
      expect: "includes-requested",
    },
    {
      name: "a requested address another pod holds is refused",
      input: input({ allocations: [held("10.244.1.77", 1)] }, ["10.244.1.77"]),
      expect: "refused",
    },
  ];
}

async function decide(worker: PluginWorker, inputs: IpamInput[]): Promise<IpamDecision[]> {
  const outcome = await worker.call(
    inputEnvelope(
      KIND,
      IPAM_OP_ALLOCATE,
      inputs.map((input) => encodeIpamRequest(input)),
    ),
  );
  if (!outcome.ok) throw new Error(outcome.error);
  const header = readOutputHeader(outcome.output, inputs.length);
  if (!header.ok) throw new Error(`plugin reported a batch error: ${header.error}`);
  const out = inputs.map(() => decodeIpamDecision(header.reader));
  if (header.reader.pos !== outcome.output.length)
    throw new Error(`${outcome.output.length - header.reader.pos} bytes left after the last answer`);
  return out;
}

function describe(d: IpamDecision): string {
  return d.ok ? d.addresses.map((a) => `${a.ip}/${a.prefixLength}`).join(", ") : `refused (${d.reason})`;
}

/** Why a decision breaks the vector's expectation, or undefined. */
function problemWith(v: IpamVector, d: IpamDecision): string | undefined {
  const invalid = checkDecision(v.input, d);
  if (invalid) return invalid;
  if (v.expect === "refused" && d.ok) return `decided ${describe(d)}; want a refusal`;
  if (v.expect === "includes-requested") {
    const want = v.input.request.requestedIPs[0];
    if (!d.ok || !d.addresses.some((a) => a.ip === want)) return `decided ${describe(d)}; want ${want}`;
  }
  return undefined;
}

async function check(name: string, body: () => Promise<string | undefined>): Promise<Check> {
  try {
    const detail = await body();
    return { name, status: "pass", ...(detail ? { detail } : {}) };
  } catch (err) {
    return { name, status: "fail", detail: (err as Error).message };
  }
}

export async function ipamConformance(
  _plugin: AdmittedPlugin,
  worker: PluginWorker,
  _options: KitOptions,
): Promise<Check[]> {
  const checks: Check[] = [];
  const vectors = ipamVectors();
  for (const v of vectors)
    checks.push(
      await check(`vector: ${v.name}`, async () => {
        const [d] = await decide(worker, [v.input]);
        const problem = problemWith(v, d);
        if (problem) throw new Error(problem);
        return describe(d);
      }),
    );
  checks.push(
    await check("pure, batch-independent: each input alone, twice, and all in one batch agree", async () => {
      const inputs = vectors.map((v) => v.input);
      const alone = [];
      for (const i of inputs) alone.push(JSON.stringify((await decide(worker, [i]))[0]));
      const again = [];
      for (const i of inputs) again.push(JSON.stringify((await decide(worker, [i]))[0]));
      const batch = (await decide(worker, inputs)).map((d) => JSON.stringify(d));
      for (const [n, v] of vectors.entries()) {
        if (alone[n] !== again[n]) throw new Error(`${v.name}: two identical calls decided differently`);
        if (alone[n] !== batch[n])
          throw new Error(`${v.name}: the decision depends on the rest of the batch`);
      }
      return `${inputs.length} inputs`;
    }),
  );
  checks.push(
    await faultCheck(worker, "fault: truncated envelope (header promises 5 items, none follow)", 5),
  );
  checks.push(await faultCheck(worker, "fault: envelope of another kind (lb)", 0, 1));
  checks.push(await faultCheck(worker, "fault: envelope of an unknown ABI version (2)", 0, KIND, 2));
  return checks;
}

/** Sends a malformed envelope: a batch error passes, a trap is contained (warn), anything else fails. */
async function faultCheck(
  worker: PluginWorker,
  name: string,
  promisedItems: number,
  kind = KIND,
  abi = 1,
): Promise<Check> {
  const envelope = inputEnvelope(kind, IPAM_OP_ALLOCATE, []);
  const view = new DataView(envelope.buffer);
  view.setUint32(12, promisedItems, true);
  view.setUint32(0, abi, true);
  const outcome = await worker.call(envelope);
  let status: Check["status"] = "pass";
  let detail: string;
  if (!outcome.ok) {
    status = "warn";
    detail = `the plugin ${outcome.reason === "timeout" ? "timed out" : "trapped"} (contained by the host: ${outcome.error}); a batch error (status 1) is the better answer`;
  } else {
    const out = outcome.output;
    const code =
      out.length >= HEADER_BYTES
        ? new DataView(out.buffer, out.byteOffset, out.byteLength).getUint32(8, true)
        : -1;
    if (code === 1) detail = "answered with a batch error";
    else {
      status = "fail";
      detail = `answered with status ${code} instead of a batch error`;
    }
  }
  try {
    await decide(worker, [input()]);
  } catch (err) {
    return {
      name,
      status: "fail",
      detail: `${detail}; the next valid call failed: ${(err as Error).message}`,
    };
  }
  return { name, status, detail: `${detail}; the next valid call succeeded` };
}
