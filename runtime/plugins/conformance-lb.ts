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

/** Request fields the plugin under test does not read: left out, as the agent's host would. */
let omitted = 0;

async function plan(worker: PluginWorker, requests: LbRequest[], leaveOut = omitted): Promise<LbResult[]> {
  const { bytes } = encodeLbItems(requests, new ByteWriter(), leaveOut);
  const outcome = await worker.call([inputHeader(LB_KIND_CODE, lbOpWord(leaveOut), requests.length), bytes]);
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

let timedOut = false;

async function check(name: string, body: () => Promise<string | undefined>): Promise<Check> {
  if (timedOut)
    return { name, status: "fail", detail: "not run: the plugin already exceeded its time budget" };
  try {
    const detail = await body();
    return { name, status: "pass", ...(detail ? { detail } : {}) };
  } catch (err) {
    const message = (err as Error).message;
    if (message.includes("time budget")) timedOut = true;
    return { name, status: "fail", detail: message };
  }
}

export async function lbConformance(
  plugin: AdmittedPlugin,
  worker: PluginWorker,
  _options: KitOptions,
): Promise<Check[]> {
  const checks: Check[] = [];
  timedOut = false;
  omitted = omittedLbFields(plugin.manifest.reads);
  for (const v of lbVectors()) {
    checks.push(
      await check(`vector: ${v.name}`, async () => {
        const t = performance.now();
        const results = await plan(worker, v.requests);
        const errors = results.flatMap((r, i) => (r.ok ? [] : [`${v.requests[i].key}: ${r.error}`]));
        if (errors.length > 0 && !v.errorsAllowed) throw new Error(errors.slice(0, 3).join("; "));
        for (const [i, r] of results.entries())
          if (r.ok && v.requests[i].endpoints.length === 0 && r.plan.slots.length > 0)
            throw new Error(`${v.requests[i].key}: ${r.plan.slots.length} slots for no endpoints; want 0`);
        const slots = results.reduce((n, r) => n + (r.ok ? r.plan.slots.length : 0), 0);
        return `${results.length} plans, ${slots} slots, ${errors.length} errors, ${(performance.now() - t).toFixed(1)} ms`;
      }),
    );
  }
  const sample = [
    request("ns/a:http", endpoints(5)),
    request("ns/b:http", endpoints(9, "10.9")),
    request("ns/c:", endpoints(2, "10.8", ["zone-b"]), {
      params: { "lb.wasmplane.io/weights": "10.8.0.1=3" },
    }),
  ];
  checks.push(
    await check("pure: the same batch twice gives the same plans", async () => {
      const a = JSON.stringify(await plan(worker, sample));
      const b = JSON.stringify(await plan(worker, sample));
      if (a !== b) throw new Error("plans differ between two identical calls");
      return undefined;
    }),
  );
  checks.push(
    await check("batch-independent: alone, in a batch and in reverse order give the same plan", async () => {
      const batch = await plan(worker, sample);
      const reversed = (await plan(worker, [...sample].reverse())).reverse();
      for (const [i, req] of sample.entries()) {
        const alone = JSON.stringify((await plan(worker, [req]))[0]);
        if (alone !== JSON.stringify(batch[i]) || alone !== JSON.stringify(reversed[i]))
          throw new Error(`${req.key}: plan depends on the other requests in the batch`);
      }
      return undefined;
    }),
  );
  if ((omitted & 0xff) !== 0)
    checks.push(
      await check(
        `reads: only ${JSON.stringify(plugin.manifest.reads)} sent gives the same plans as every field sent`,
        async () => {
          const every = lbVectors().flatMap((v) => v.requests.slice(0, 50));
          const projected = JSON.stringify(await plan(worker, every));
          // Every ABI 1 field, plus the 1.1 fields the plugin asked for (it gets them either way).
          const full = JSON.stringify(await plan(worker, every, omitted & ~0xff));
          if (projected !== full)
            throw new Error("the manifest's reads list leaves out a field the plugin uses");
          return `${every.length} requests`;
        },
      ),
    );
  checks.push(
    await check(
      "endpoint order: a shuffled endpoint list gives the same plan in endpoint identities",
      async () => {
        for (const req of sample) {
          const [a] = await plan(worker, [req]);
          const shuffledReq = { ...req, endpoints: shuffled(req.endpoints, 7) };
          const [b] = await plan(worker, [shuffledReq]);
          if (identityView(req, a) !== identityView(shuffledReq, b))
            throw new Error(`${req.key}: the plan changed when only the endpoint order changed`);
        }
        return undefined;
      },
    ),
  );
  checks.push(
    await faultCheck(worker, "fault: truncated envelope (header promises 5 items, none follow)", truncated()),
  );
  checks.push(await faultCheck(worker, "fault: envelope of another kind (ipam)", otherKind()));
  checks.push(await faultCheck(worker, "fault: envelope of an unknown ABI version (2)", otherAbi()));
  return checks;
}

function truncated(): Uint8Array {
  const e = inputEnvelope(LB_KIND_CODE, lbOpWord(omitted), []);
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
async function faultCheck(worker: PluginWorker, name: string, envelope: Uint8Array): Promise<Check> {
  if (timedOut)
    return { name, status: "fail", detail: "not run: the plugin already exceeded its time budget" };
  const outcome = await worker.call(envelope);
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
    await plan(worker, [request("ns/after-fault:http", endpoints(3))]);
  } catch (err) {
    return {
      name,
      status: "fail",
      detail: `${detail}; the next valid call failed: ${(err as Error).message}`,
    };
  }
  return { name, status, detail: `${detail}; the next valid call succeeded` };
}
