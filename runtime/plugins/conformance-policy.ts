// The `policy` kit: vectors every policy plugin must answer with a valid decision, properties every
// one must have (pure; a pod's answer does not depend on which other pods are asked about, in which
// order, or on the order of the world's pods), agreement with the NetworkPolicy reference (a warning
// only: a vendor's plugin may implement another policy language), and faults the host must contain.
import { setContains } from "../policy/address-sets.ts";
import { evaluatePolicies } from "../policy/reference.ts";
import type { PolicyDecision } from "../policy/types.ts";
import type { Pod, Snapshot } from "../store/objects.ts";
import type { AdmittedPlugin } from "./admission.ts";
import type { Check, KitOptions } from "./conformance.ts";
import { ByteWriter, HEADER_BYTES, inputEnvelope, inputHeader } from "./envelope.ts";
import type { PluginWorker } from "./plugin-worker.ts";
import {
  decodePolicyMemberships,
  decodePolicyOutput,
  encodePolicyRequest,
  POLICY_KIND_CODE,
  POLICY_OP_DECIDE,
  POLICY_OP_MEMBERSHIPS,
} from "./policy-codec.ts";
import { localPolicyPods } from "./policy-planner.ts";
import { randomPolicyWorld, type WorldShape } from "./policy-vectors.ts";

const NODE = "node-0";

function shape(pods: number, local: number, nps: number, cnps: number, oddities = true): WorldShape {
  return {
    namespaces: 4,
    pods,
    localPods: local,
    networkPolicies: nps,
    clusterPolicies: cnps,
    nodeName: NODE,
    oddities,
  };
}

/** Named worlds every policy plugin must decide validly. */
export function policyVectors(): { name: string; world: Snapshot }[] {
  const empty = randomPolicyWorld(1, shape(0, 0, 0, 0, false));
  return [
    { name: "empty world, no pods asked about", world: empty },
    { name: "pods, no policies", world: randomPolicyWorld(2, shape(20, 5, 0, 0)) },
    { name: "NetworkPolicies only", world: randomPolicyWorld(3, shape(40, 10, 12, 0)) },
    {
      name: "ClusterNetworkPolicies only (Admin, Baseline, Pass, unsupported peers)",
      world: randomPolicyWorld(4, shape(40, 10, 0, 12)),
    },
    {
      name: "both kinds, IPv6, host-network and finished pods",
      world: randomPolicyWorld(5, shape(60, 15, 10, 6)),
    },
    {
      name: "1,000 pods (100 local), 200 NetworkPolicies, 20 ClusterNetworkPolicies",
      world: randomPolicyWorld(6, { ...shape(1000, 100, 200, 20), namespaces: 20 }),
    },
  ];
}

export async function decideWith(
  worker: PluginWorker,
  world: Snapshot,
  pods: readonly string[],
): Promise<PolicyDecision> {
  const w = new ByteWriter();
  const encoded = encodePolicyRequest(w, world, NODE, pods);
  const header = inputHeader(POLICY_KIND_CODE, POLICY_OP_DECIDE, pods.length);
  const outcome = await worker.call([header, w.bytes.subarray(0, w.length)]);
  if (!outcome.ok) throw new Error(outcome.error);
  const decoded = decodePolicyOutput(outcome.output, encoded);
  if ("batchError" in decoded) throw new Error(`plugin reported a batch error: ${decoded.batchError}`);
  return decoded;
}

/** A decision as comparable text; rules keep only the contract's fields. */
export function decisionText(d: PolicyDecision): string {
  const pods = d.pods.map((p) => ({
    ...p,
    rules: p.rules.map((r) => ({
      tier: r.tier,
      verdict: r.verdict,
      origin: r.origin,
      peers: r.peers,
      ports: r.ports,
      addressPorts: r.addressPorts,
    })),
  }));
  return JSON.stringify({
    pods,
    sets: [...d.addressSets],
    portSets: [...d.addressPortSets],
    problems: d.problems,
  });
}

/** The part of `d` that concerns `pods`: their entries and the sets their rules name. */
export function restrictDecision(d: PolicyDecision, pods: readonly string[]): PolicyDecision {
  const wanted = new Set(pods);
  const entries = d.pods.filter((p) => wanted.has(p.pod));
  const used = new Set(entries.flatMap((p) => p.rules.flatMap((r) => (r.peers ? [r.peers] : []))));
  const usedPorts = new Set(
    entries.flatMap((p) => p.rules.flatMap((r) => (r.addressPorts ? [r.addressPorts] : []))),
  );
  return {
    pods: entries,
    addressSets: new Map([...d.addressSets].filter(([id]) => used.has(id))),
    addressPortSets: new Map([...d.addressPortSets].filter(([id]) => usedPorts.has(id))),
    problems: d.problems,
  };
}

function shuffledPods(world: Snapshot, seed: number): Snapshot {
  const entries: [string, Pod][] = [...world.pods];
  let x = seed;
  for (let i = entries.length - 1; i > 0; i--) {
    x = (x * 1103515245 + 12345) >>> 0;
    const j = x % (i + 1);
    [entries[i], entries[j]] = [entries[j], entries[i]];
  }
  return { ...world, pods: new Map(entries) };
}

type CheckBody = () => Promise<string | undefined>;

async function check(name: string, body: CheckBody, failAs: Check["status"] = "fail"): Promise<Check> {
  try {
    const detail = await body();
    return { name, status: "pass", ...(detail ? { detail } : {}) };
  } catch (err) {
    return { name, status: failAs, detail: (err as Error).message };
  }
}

async function vectorChecks(worker: PluginWorker): Promise<Check[]> {
  const checks: Check[] = [];
  for (const v of policyVectors()) {
    checks.push(
      await check(`vector: ${v.name}`, async () => {
        const t = performance.now();
        const pods = localPolicyPods(v.world, NODE);
        const d = await decideWith(worker, v.world, pods);
        const rules = d.pods.reduce((n, p) => n + p.rules.length, 0);
        return `${pods.length} pods asked, ${d.pods.length} pod directions, ${rules} rules, ${d.addressSets.size} address sets, ${(performance.now() - t).toFixed(1)} ms`;
      }),
    );
  }
  return checks;
}

async function propertyChecks(worker: PluginWorker): Promise<Check[]> {
  const world = randomPolicyWorld(11, shape(60, 12, 10, 6));
  const pods = localPolicyPods(world, NODE);
  const all = await decideWith(worker, world, pods).catch(() => null);
  const need = () => {
    if (!all) throw new Error("the plugin could not decide the sample world");
    return all;
  };
  return [
    await check("pure: the same call twice gives the same decision", async () => {
      const again = await decideWith(worker, world, pods);
      if (decisionText(need()) !== decisionText(again))
        throw new Error("decisions differ between two identical calls");
      return undefined;
    }),
    await check(
      "subset: a pod asked about alone, or in the other half, gets the answer it gets with all",
      async () => {
        const half = pods.filter((_, i) => i % 2 === 1);
        const subsets = [...pods.map((p) => [p]), half];
        for (const subset of subsets) {
          const got = await decideWith(worker, world, subset);
          if (decisionText(got) !== decisionText(restrictDecision(need(), subset)))
            throw new Error(
              `asked about ${subset.join(", ")}: the answer differs from the same pods' part of the full decision`,
            );
        }
        return `${subsets.length} subsets`;
      },
    ),
    await check(
      "order: reversed pods asked about, and shuffled world pods, give the same decision",
      async () => {
        const reversed = await decideWith(worker, world, [...pods].reverse());
        const shuffled = await decideWith(worker, shuffledPods(world, 7), pods);
        if (decisionText(reversed) !== decisionText(need()))
          throw new Error("the order of the requested pods changed the decision");
        if (decisionText(shuffled) !== decisionText(need()))
          throw new Error("the order of the world's pods changed the decision");
        return undefined;
      },
    ),
    await check(
      "NetworkPolicy semantics: equal to runtime/policy/reference.ts on 20 random worlds (warning only)",
      async () => {
        for (let seed = 100; seed < 120; seed++) {
          const w = randomPolicyWorld(seed, shape(30, 8, 6, 4));
          const got = await decideWith(worker, w, localPolicyPods(w, NODE));
          if (decisionText(got) !== decisionText(evaluatePolicies(w, { nodeName: NODE })))
            throw new Error(`world seed ${seed}: the decision differs from the reference's`);
        }
        return undefined;
      },
      "warn",
    ),
  ];
}

async function membershipsWith(worker: PluginWorker, world: Snapshot, pods: readonly string[]) {
  const w = new ByteWriter();
  const encoded = encodePolicyRequest(w, world, NODE, pods);
  const header = inputHeader(POLICY_KIND_CODE, POLICY_OP_MEMBERSHIPS, pods.length);
  const outcome = await worker.call([header, w.bytes.subarray(0, w.length)]);
  if (!outcome.ok) throw new Error(`op 1 (memberships): ${outcome.error}`);
  const decoded = decodePolicyMemberships(outcome.output, encoded);
  if ("batchError" in decoded) throw new Error(`op 1 (memberships): batch error: ${decoded.batchError}`);
  return decoded;
}

/** Memberships agree with the decision: a pod listed as itself in a set is a member; a member is in the set. */
async function membershipCheck(worker: PluginWorker): Promise<Check> {
  return check(
    "memberships (op 1, optional): each pod is in exactly the sets of the full decision that list its address (warning only)",
    async () => {
      const world = randomPolicyWorld(12, shape(40, 10, 8, 4));
      const decision = await decideWith(worker, world, localPolicyPods(world, NODE));
      const pods = [...world.pods.keys()];
      const got = await membershipsWith(worker, world, pods);
      for (const key of pods) {
        const ips = world.pods.get(key)!.podIPs;
        const m = got.get(key)!;
        for (const [id, elements] of decision.addressSets) {
          const listed = ips.some((ip) => elements.includes(ip));
          if (listed && !m.addressSets.includes(id))
            throw new Error(`${key} is in set "${id}" but not among its memberships`);
          if (m.addressSets.includes(id) && !ips.some((ip) => setContains(elements, ip)))
            throw new Error(`${key} is among the members of set "${id}", which does not hold its address`);
        }
      }
      return `${pods.length} pods`;
    },
    "warn",
  );
}

function truncated(): Uint8Array {
  const e = inputEnvelope(POLICY_KIND_CODE, POLICY_OP_DECIDE, []);
  new DataView(e.buffer).setUint32(12, 5, true);
  return e;
}

/** A world with one pod, asking about pod index 7: past the pods. */
function podOutOfRange(): Uint8Array {
  const world = randomPolicyWorld(1, shape(1, 1, 0, 0, false));
  const w = new ByteWriter();
  encodePolicyRequest(w, world, NODE, []);
  w.u32(7);
  return inputEnvelope(POLICY_KIND_CODE, POLICY_OP_DECIDE, [w.bytes.slice(0, w.length)]);
}

function unknownOp(): Uint8Array {
  const w = new ByteWriter();
  encodePolicyRequest(w, randomPolicyWorld(1, shape(2, 1, 0, 0, false)), NODE, []);
  const e = inputEnvelope(POLICY_KIND_CODE, 7, [w.bytes.slice(0, w.length)]);
  new DataView(e.buffer).setUint32(12, 0, true);
  return e;
}

function withHeader(kind: number, abi: number): Uint8Array {
  const e = inputEnvelope(kind, POLICY_OP_DECIDE, []);
  new DataView(e.buffer).setUint32(0, abi, true);
  return e;
}

/** A malformed envelope: a batch error passes, a trap warns; the next valid call must succeed. */
async function faultCheck(worker: PluginWorker, name: string, envelope: Uint8Array): Promise<Check> {
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
  const world = randomPolicyWorld(2, shape(10, 3, 2, 1));
  try {
    await decideWith(worker, world, localPolicyPods(world, NODE));
  } catch (err) {
    return {
      name,
      status: "fail",
      detail: `${detail}; the next valid call failed: ${(err as Error).message}`,
    };
  }
  return { name, status, detail: `${detail}; the next valid call succeeded` };
}

export async function policyConformance(
  _plugin: AdmittedPlugin,
  worker: PluginWorker,
  _options: KitOptions,
): Promise<Check[]> {
  const checks = [...(await vectorChecks(worker)), ...(await propertyChecks(worker))];
  checks.push(await membershipCheck(worker));
  checks.push(
    await faultCheck(
      worker,
      "fault: truncated envelope (header promises 5 pods, no world follows)",
      truncated(),
    ),
  );
  checks.push(
    await faultCheck(worker, "fault: a requested pod index past the world's pods", podOutOfRange()),
  );
  checks.push(await faultCheck(worker, "fault: an unknown operation (op word 7)", unknownOp()));
  checks.push(await faultCheck(worker, "fault: envelope of another kind (lb)", withHeader(1, 1)));
  checks.push(
    await faultCheck(
      worker,
      "fault: envelope of an unknown ABI version (2)",
      withHeader(POLICY_KIND_CODE, 2),
    ),
  );
  return checks;
}
