// The `lb` kit: vectors every LB plugin must plan validly, properties every one must have (pure,
// batch-independent, endpoint-order-independent), and faults the host must contain.
import type { LbEndpoint, LbRequest, LbResult } from "../lb/plan.ts";
import type { AdmittedPlugin } from "./admission.ts";
import type { Check, KitOptions } from "./conformance.ts";
import { ByteWriter, HEADER_BYTES, inputEnvelope, inputHeader } from "./envelope.ts";
import {
  decodeLbOutput,
  encodeLbItems,
  LB_KIND_CODE,
  LB_OP_PLAN,
  lbOpWord,
  omittedLbFields,
} from "./lb-codec.ts";
import type { PluginWorker } from "./plugin-worker.ts";

function endpoints(n: number, base = "10.1", zones = ["zone-a", "zone-b", "zone-c"]): LbEndpoint[] {
  return Array.from({ length: n }, (_, i) => ({
    address: `${base}.${Math.floor(i / 250)}.${(i % 250) + 1}`,
    port: 8080,
    weight: 1,
    zone: zones[i % zones.length],
    nodeName: `node-${i % 7}`,
  }));
}

function request(key: string, eps: LbEndpoint[], extra: Partial<LbRequest> = {}): LbRequest {
  return { key, algorithm: "", endpoints: eps, params: {}, nodeZone: "zone-a", nodeName: "node-1", ...extra };
}

/** Named batches every LB plugin must answer with valid plans (or per-request errors where noted). */
export function lbVectors(): { name: string; requests: LbRequest[]; errorsAllowed: boolean }[] {
  return [
    { name: "empty batch", requests: [], errorsAllowed: false },
    {
      name: "no endpoints: a plan with no slots (not an error, not a slot)",
      requests: [request("ns/none:http", []), request("ns/none-either:", [], { nodeZone: undefined })],
      errorsAllowed: false,
    },
    { name: "one endpoint", requests: [request("ns/one:http", endpoints(1))], errorsAllowed: false },
    { name: "ten endpoints", requests: [request("ns/ten:", endpoints(10))], errorsAllowed: false },
    {
      name: "IPv6, unicode key, zones absent, node without zone",
      requests: [
        request(
          "nämespace/svc:grpc",
          [
            { address: "fd00::1", port: 443, weight: 1 },
            { address: "fd00::2", port: 443, weight: 1 },
          ],
          { nodeZone: undefined },
        ),
      ],
      errorsAllowed: false,
    },
    {
      name: "weights and unknown params",
      requests: [
        request(
          "ns/weighted:http",
          endpoints(4).map((e, i) => ({ ...e, weight: i + 1 })),
          { params: { "lb.wasmplane.io/some-future-param": "x", "lb.wasmplane.io/weights": "10.1.0.1=5" } },
        ),
      ],
      errorsAllowed: false,
    },
    {
      name: "no endpoint in the node's zone",
      requests: [request("ns/elsewhere:http", endpoints(3, "10.2", ["zone-x"]))],
      errorsAllowed: false,
    },
    { name: "600 endpoints", requests: [request("ns/big:http", endpoints(600))], errorsAllowed: false },
    {
      name: "the largest call the host sends by default: 2,000 service ports × 10 endpoints",
      requests: Array.from({ length: 2000 }, (_, i) =>
        request(`ns/svc-${i}:http`, endpoints(10, `10.${3 + (i % 200)}`)),
      ),
      errorsAllowed: false,
    },
  ];
}

/** One run of the kit against one plugin: what every check needs, passed to each explicitly. */
interface LbKitRun {
  worker: PluginWorker;
  /** Request fields the plugin under test does not read: left out, as the agent's host would. */
  omitted: number;
  /** Set once a check exceeded the time budget: the checks after it are not run. */
  timedOut: boolean;
}

async function plan(run: LbKitRun, requests: LbRequest[], leaveOut = run.omitted): Promise<LbResult[]> {
  const { bytes } = encodeLbItems(requests, new ByteWriter(), leaveOut);
  const outcome = await run.worker.call([
    inputHeader(LB_KIND_CODE, lbOpWord(leaveOut), requests.length),
    bytes,
  ]);
  if (!outcome.ok) throw new Error(outcome.error);
  const decoded = decodeLbOutput(outcome.output, requests);
  if ("batchError" in decoded) throw new Error(`plugin reported a batch error: ${decoded.batchError}`);
  return decoded;
}

/** A plan in terms of endpoint identities: independent of how the endpoint list was ordered. */
function identityView(req: LbRequest, r: LbResult): string {
  if (!r.ok) return `error`;
  const ids = r.plan.slots.map((s) => `${req.endpoints[s].address}:${req.endpoints[s].port}`);
  return `${JSON.stringify(r.plan.selection)} ${ids.sort().join(",")}`;
}

function shuffled<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let x = seed;
  for (let i = out.length - 1; i > 0; i--) {
    x = (x * 1103515245 + 12345) >>> 0;
    const j = x % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

const NOT_RUN = "not run: the plugin already exceeded its time budget";

async function check(run: LbKitRun, name: string, body: () => Promise<string | undefined>): Promise<Check> {
  if (run.timedOut) return { name, status: "fail", detail: NOT_RUN };
  try {
    const detail = await body();
    return { name, status: "pass", ...(detail ? { detail } : {}) };
  } catch (err) {
    const message = (err as Error).message;
    if (message.includes("time budget")) run.timedOut = true;
    return { name, status: "fail", detail: message };
  }
}

/** Three requests of different shapes: the batch the property checks plan again and again. */
function sampleRequests(): LbRequest[] {
  return [
    request("ns/a:http", endpoints(5)),
    request("ns/b:http", endpoints(9, "10.9")),
    request("ns/c:", endpoints(2, "10.8", ["zone-b"]), {
      params: { "lb.wasmplane.io/weights": "10.8.0.1=3" },
    }),
  ];
}

export async function lbConformance(
  plugin: AdmittedPlugin,
  worker: PluginWorker,
  _options: KitOptions,
): Promise<Check[]> {
  const run: LbKitRun = { worker, omitted: omittedLbFields(plugin.manifest.reads), timedOut: false };
  const sample = sampleRequests();
  const checks: Check[] = [];
  for (const v of lbVectors()) checks.push(await vectorCheck(run, v));
  checks.push(await pureCheck(run, sample));
  checks.push(await batchIndependenceCheck(run, sample));
  if ((run.omitted & 0xff) !== 0) checks.push(await readsCheck(run, plugin.manifest.reads));
  checks.push(await endpointOrderCheck(run, sample));
  checks.push(
    await faultCheck(run, "fault: truncated envelope (header promises 5 items, none follow)", truncated(run)),
  );
  checks.push(await faultCheck(run, "fault: envelope of another kind (ipam)", otherKind()));
  checks.push(await faultCheck(run, "fault: envelope of an unknown ABI version (2)", otherAbi()));
  return checks;
}

function vectorCheck(run: LbKitRun, v: ReturnType<typeof lbVectors>[number]): Promise<Check> {
  return check(run, `vector: ${v.name}`, async () => {
    const t = performance.now();
    const results = await plan(run, v.requests);
    const errors = results.flatMap((r, i) => (r.ok ? [] : [`${v.requests[i].key}: ${r.error}`]));
    if (errors.length > 0 && !v.errorsAllowed) throw new Error(errors.slice(0, 3).join("; "));
    for (const [i, r] of results.entries())
      if (r.ok && v.requests[i].endpoints.length === 0 && r.plan.slots.length > 0)
        throw new Error(`${v.requests[i].key}: ${r.plan.slots.length} slots for no endpoints; want 0`);
    const slots = results.reduce((n, r) => n + (r.ok ? r.plan.slots.length : 0), 0);
    return `${results.length} plans, ${slots} slots, ${errors.length} errors, ${(performance.now() - t).toFixed(1)} ms`;
  });
}

function pureCheck(run: LbKitRun, sample: LbRequest[]): Promise<Check> {
  return check(run, "pure: the same batch twice gives the same plans", async () => {
    const a = JSON.stringify(await plan(run, sample));
    const b = JSON.stringify(await plan(run, sample));
    if (a !== b) throw new Error("plans differ between two identical calls");
    return undefined;
  });
}

function batchIndependenceCheck(run: LbKitRun, sample: LbRequest[]): Promise<Check> {
  const name = "batch-independent: alone, in a batch and in reverse order give the same plan";
  return check(run, name, async () => {
    const batch = await plan(run, sample);
    const reversed = (await plan(run, [...sample].reverse())).reverse();
    for (const [i, req] of sample.entries()) {
      const alone = JSON.stringify((await plan(run, [req]))[0]);
      if (alone !== JSON.stringify(batch[i]) || alone !== JSON.stringify(reversed[i]))
        throw new Error(`${req.key}: plan depends on the other requests in the batch`);
    }
    return undefined;
  });
}

function readsCheck(run: LbKitRun, reads: readonly string[] | undefined): Promise<Check> {
  const name = `reads: only ${JSON.stringify(reads)} sent gives the same plans as every field sent`;
  return check(run, name, async () => {
    const every = lbVectors().flatMap((v) => v.requests.slice(0, 50));
    const projected = JSON.stringify(await plan(run, every));
    // Every ABI 1 field, plus the 1.1 fields the plugin asked for (it gets them either way).
    const full = JSON.stringify(await plan(run, every, run.omitted & ~0xff));
    if (projected !== full) throw new Error("the manifest's reads list leaves out a field the plugin uses");
    return `${every.length} requests`;
  });
}

function endpointOrderCheck(run: LbKitRun, sample: LbRequest[]): Promise<Check> {
  const name = "endpoint order: a shuffled endpoint list gives the same plan in endpoint identities";
  return check(run, name, async () => {
    for (const req of sample) {
      const [a] = await plan(run, [req]);
      const shuffledReq = { ...req, endpoints: shuffled(req.endpoints, 7) };
      const [b] = await plan(run, [shuffledReq]);
      if (identityView(req, a) !== identityView(shuffledReq, b))
        throw new Error(`${req.key}: the plan changed when only the endpoint order changed`);
    }
    return undefined;
  });
}

function truncated(run: LbKitRun): Uint8Array {
  const e = inputEnvelope(LB_KIND_CODE, lbOpWord(run.omitted), []);
  new DataView(e.buffer).setUint32(12, 5, true);
  return e;
}

function otherKind(): Uint8Array {
  const { bytes } = encodeLbItems([request("ns/x:http", endpoints(2))], new ByteWriter());
  const e = inputEnvelope(2, 0, [bytes]);
  return e;
}

function otherAbi(): Uint8Array {
  const e = inputEnvelope(LB_KIND_CODE, LB_OP_PLAN, []);
  new DataView(e.buffer).setUint32(0, 2, true);
  return e;
}

/**
 * Sends a malformed envelope. A batch error is the best answer, a trap is contained (warn); a plan
 * for it is wrong. Either way the next valid call must succeed.
 */
async function faultCheck(run: LbKitRun, name: string, envelope: Uint8Array): Promise<Check> {
  if (run.timedOut) return { name, status: "fail", detail: NOT_RUN };
  const outcome = await run.worker.call(envelope);
  let status: Check["status"] = "pass";
  let detail: string;
  if (!outcome.ok) {
    status = "warn";
    detail = `the plugin ${outcome.reason === "timeout" ? "timed out" : "trapped"} (contained by the host: ${outcome.error}); a batch error (status 1) is the better answer`;
  } else {
    const view = new DataView(outcome.output.buffer, outcome.output.byteOffset, outcome.output.byteLength);
    const code = outcome.output.length >= HEADER_BYTES ? view.getUint32(8, true) : -1;
    if (code === 1) detail = "answered with a batch error";
    else {
      status = "fail";
      detail = `answered with status ${code} instead of a batch error`;
    }
  }
  try {
    await plan(run, [request("ns/after-fault:http", endpoints(3))]);
  } catch (err) {
    return {
      name,
      status: "fail",
      detail: `${detail}; the next valid call failed: ${(err as Error).message}`,
    };
  }
  return { name, status, detail: `${detail}; the next valid call succeeded` };
}
