// The guard of the netlink fast path: before the agent trusts nft/netlink/ with the node's rules, it
// applies a small table shaped like the planners' output (service dispatch, endpoint picking, NAT,
// node and policy sets) through netlink into a scratch network namespace, in two steps (a first sync,
// then a diff), reads each back with nft and compares. Any difference, refusal or failure means the
// encoder and this kernel/nft disagree, and the caller pins its path to `nft -f`.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { promisify } from "node:util";
import { type ApplyOptions, applyTransaction } from "./apply.ts";
import {
  accept,
  anonSet,
  baseChain,
  bitAnd,
  bitOr,
  chain,
  cidr,
  concat,
  counter,
  ct,
  dnat,
  drop,
  element,
  fib,
  flags,
  goto,
  jhash,
  jump,
  log,
  markSet,
  masquerade,
  match,
  meta,
  namedMap,
  namedSet,
  notMatch,
  numgen,
  payload,
  range,
  reject,
  ret,
  rule,
  setRef,
  setUpdate,
  vmap,
} from "./build.ts";
import { tableDifferences } from "./compare.ts";
import { addChain, addSet, type DesiredTable, emptyFragment, mergeFragments } from "./desired.ts";
import { planSync } from "./diff.ts";
import { closeSession, senderBinary, senderProblem } from "./netlink/sender.ts";
import { readTable } from "./readback.ts";

const run = promisify(execFile);

export const SCRATCH_PREFIX = "wasmplane-selftest-";
const SCRATCH_NAME = /^wasmplane-selftest-(\d+)-[0-9a-f]+$/;
const TABLE = "wasmplane";

export interface SelfTestOptions {
  /** Scratch namespace name; default `wasmplane-selftest-<pid>-<random>`. Created and always deleted. */
  netns?: string;
  /** The encoder under test (a test injects a faulty one). */
  encode?: ApplyOptions["encode"];
  /** How expected and read-back tables are compared: one line per difference, none when equal. */
  compare?: (expected: DesiredTable, readBack: DesiredTable) => string[];
  /** Give up (and report a failure) after this long. Default 20 s. */
  timeoutMs?: number;
}

export type SelfTestResult =
  | { ok: true; durationMs: number }
  | { ok: false; reason: string; durationMs: number };

/** Endpoint chain: hairpin mark, then DNAT (the service planner's shape). */
function endpoint(name: string, ip: string, port: number) {
  return chain(name, [
    rule(match(payload("ip", "saddr"), ip), markSet(bitOr(meta("mark"), 0x4000))),
    rule(match(meta("l4proto"), "tcp"), dnat(ip, port)),
  ]);
}

type Fragment = ReturnType<typeof emptyFragment>;

/** Node, policy and service sets and maps; step 1 swaps one element of a plain set and of a map. */
function addSets(f: Fragment, step: 0 | 1): void {
  const peers4 = [element(cidr("10.1.0.0/16")), element("192.168.1.1")];
  addSet(f, namedSet("peers4-n", "ipv4_addr", peers4, { flags: ["interval"], comment: "policy peers" }));
  const peers6 = [element("fd00::1"), element(step === 0 ? "fd00::2" : "fd00::3")];
  addSet(f, namedSet("peers6-h", "ipv6_addr", peers6));
  addSet(f, namedSet("ifaddr4", ["ifname", "ipv4_addr"], [element(concat("wpa1b2c3", "10.244.1.2"))]));
  addSet(f, namedSet("affinity", "ipv4_addr", [], { flags: ["dynamic", "timeout"], timeout: 10800 }));
  const services = [
    element(concat("10.96.0.1", "tcp", 443), goto("svc-a")),
    step === 0
      ? element(concat("10.96.0.2", "udp", 53), goto("svc-b"))
      : element(concat("10.96.0.3", "tcp", 8443), goto("svc-a")),
  ];
  addSet(f, namedMap("services", ["ipv4_addr", "inet_proto", "inet_service"], "verdict", services));
  addSet(f, namedMap("pod-ingress4", "ipv4_addr", "verdict", [element("10.244.1.2", goto("pol-in-a"))]));
}

/** Service chains: an anonymous vmap pick with affinity, and (step 0 only) a cascade and a jhash pick. */
function addServiceChains(f: Fragment, step: 0 | 1): void {
  const pick = vmap(numgen("random", 2), [
    [0, goto("ep-a1")],
    [1, goto("ep-a2")],
  ]);
  const affinity = setUpdate("update", "affinity", payload("ip", "saddr"), 30);
  addChain(f, chain("svc-a", [rule(affinity), rule(pick)]));
  addChain(f, endpoint("ep-a1", "10.244.2.5", step === 0 ? 8080 : 9090));
  addChain(f, endpoint("ep-a2", "10.244.3.5", 8080));
  if (step === 1) return;
  const cascade = [rule(match(numgen("random", 2), 1, "<"), goto("ep-b1")), rule(goto("ep-b2"))];
  addChain(f, chain("svc-b", cascade));
  addChain(f, endpoint("ep-b1", "10.244.2.6", 53));
  const hash = jhash(concat(payload("ip", "saddr"), payload("th", "sport")), 1, { seed: 7 });
  addChain(f, chain("ep-b2", [rule(vmap(hash, [[0, goto("ep-b1")]]))]));
}

/** A policy chain, the anti-spoof chain, and the NAT and filter base chains. */
function addNodeChains(f: Fragment): void {
  const fromPeers4 = match(payload("ip", "saddr"), setRef("peers4-n"));
  const fromPeers6 = match(payload("ip6", "saddr"), setRef("peers6-h"));
  addChain(
    f,
    chain("pol-in-a", [
      rule(match(ct("state"), flags("established", "related")), accept()),
      rule(fromPeers4, match(payload("tcp", "dport"), anonSet(80, 443)), accept()),
      rule(fromPeers6, match(payload("udp", "dport"), range(1000, 2000)), accept()),
      rule(log({ prefix: "wasmplane drop: ", level: "info" }), counter(), reject()),
    ]),
  );
  const ownAddress = match(concat(meta("iifname"), payload("ip", "saddr")), setRef("ifaddr4"));
  addChain(f, chain("antispoof", [rule(ownAddress, ret()), rule(drop())]));
  const dispatch = vmap(concat(payload("ip", "daddr"), meta("l4proto"), payload("th", "dport")), "services");
  addChain(
    f,
    baseChain("services-pre", { type: "nat", hook: "prerouting", priority: "dstnat" }, [rule(dispatch)]),
  );
  addChain(
    f,
    baseChain("services-post", { type: "nat", hook: "postrouting", priority: "srcnat" }, [
      rule(match(bitAnd(meta("mark"), 0x4000), 0), ret()),
      rule(masquerade({ flags: ["fully-random"] })),
    ]),
  );
  addChain(
    f,
    baseChain("forward", { type: "filter", hook: "forward", priority: "filter", policy: "accept" }, [
      rule(match(meta("iifname"), "wp*"), jump("antispoof")),
      rule(match(fib(["daddr"], "type"), "local"), notMatch(meta("oifname"), "lo"), counter()),
      rule(vmap(payload("ip", "daddr"), "pod-ingress4")),
    ]),
  );
}

/**
 * The scratch table of step `step` (0: first sync, 1: the change applied on top). Step 1 changes
 * verdict-map and set elements, rewrites an endpoint chain and drops a service, so the diff sends
 * element adds and deletes, a chain flush and refill, and chain deletes.
 */
export function selfTestTable(step: 0 | 1): DesiredTable {
  const f = emptyFragment();
  addSets(f, step);
  addServiceChains(f, step);
  addNodeChains(f);
  return mergeFragments("inet", TABLE, [f]);
}

async function ipNetns(...args: string[]): Promise<void> {
  await run("ip", ["netns", ...args], { timeout: 10_000 });
}

/** Deletes scratch namespaces left by self-tests whose process is gone (a crash during one). */
async function removeStaleScratch(): Promise<void> {
  const names = await readdir("/run/netns").catch(() => [] as string[]);
  for (const name of names) {
    const pid = SCRATCH_NAME.exec(name)?.[1];
    if (!pid || processAlive(Number(pid))) continue;
    await ipNetns("delete", name).catch(() => undefined);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Applies step 0 then step 1 through netlink into `netns`; the first problem found, or null. */
async function roundTrips(netns: string, opts: SelfTestOptions): Promise<string | null> {
  const compare = opts.compare ?? tableDifferences;
  let applied: DesiredTable | null = null;
  for (const step of [0, 1] as const) {
    const desired = selfTestTable(step);
    const plan = planSync(applied, desired);
    await applyTransaction(plan.tx, {
      netns,
      path: "netlink",
      ...(opts.encode ? { encode: opts.encode } : {}),
    });
    const back = await readTable("inet", TABLE, { netns });
    if (!back) return `step ${step}: table inet ${TABLE} is missing after the apply`;
    // plan.applied, not desired: chains dropped in step 1 are flushed now and deleted next time.
    const diffs = compare(plan.applied, back);
    if (diffs.length > 0)
      return `step ${step}: read back differs from what was applied (${diffs.length} differences): ${diffs
        .slice(0, 3)
        .map((d) => d.replace(/\s*\n\s*/g, " ").trim())
        .join("; ")}`;
    applied = plan.applied;
  }
  return null;
}

async function inScratch(netns: string, opts: SelfTestOptions): Promise<string | null> {
  await removeStaleScratch();
  try {
    await ipNetns("add", netns);
  } catch (err) {
    return `cannot create scratch namespace ${netns}: ${(err as Error).message.trim()}`;
  }
  try {
    return await roundTrips(netns, opts);
  } catch (err) {
    return (err as Error).message;
  } finally {
    await cleanUp(netns);
  }
}

async function cleanUp(netns: string): Promise<void> {
  closeSession(netns);
  await ipNetns("delete", netns).catch(() => undefined);
}

/**
 * Runs the netlink self-test in a scratch namespace (created here and always deleted). ok: the
 * fast path wrote what nft reads back; otherwise `reason` says what went wrong.
 */
export async function selfTestNetlink(opts: SelfTestOptions = {}): Promise<SelfTestResult> {
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  if (!senderBinary())
    return { ok: false, reason: `netlink sender unavailable: ${senderProblem()}`, durationMs: elapsed() };
  const netns = opts.netns ?? `${SCRATCH_PREFIX}${process.pid}-${randomBytes(4).toString("hex")}`;
  const limit = opts.timeoutMs ?? 20_000;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`timed out after ${limit} ms`), limit);
  });
  const finished = inScratch(netns, opts).then((problem) => ({ problem }));
  const outcome = await Promise.race([finished, timedOut.then((problem) => ({ problem, timedOut: true }))]);
  clearTimeout(timer);
  // The round trip may still be running after a timeout: take its namespace away now (it cleans up
  // after itself too once it fails).
  if ("timedOut" in outcome) await cleanUp(netns);
  return outcome.problem === null
    ? { ok: true, durationMs: elapsed() }
    : { ok: false, reason: outcome.problem, durationMs: elapsed() };
}
