// bench/nft-apply: a 10,000-service-shaped rule set (10,000-element verdict map, 40,000 chains)
// built and applied through nft/ against the same rule set written as native text and applied with
// `nft -f` directly, each in a throwaway network namespace of its own; then a one-element change on
// top; then the JSON path against the text path at 2,500 services. One run of each (the machine is shared).
import { execFileSync, spawn } from "node:child_process";
import { applyTransaction, runNft } from "../nft/apply.ts";
import { concat, element } from "../nft/build.ts";
import type { DesiredTable } from "../nft/desired.ts";
import { planSync } from "../nft/diff.ts";
import { encodeTransaction } from "../nft/netlink/encode.ts";
import { closeSession, sendBatch } from "../nft/netlink/sender.ts";
import { renderText } from "../nft/render-text.ts";
import { Transaction } from "../nft/transaction.ts";
import {
  type ServicePick,
  serviceIP,
  serviceShapedNativeText,
  serviceShapedTable,
} from "../test/nft/service-shape.ts";

const SERVICES = Number(process.env.NFT_BENCH_SERVICES ?? 10_000);
/** How each service chain picks its endpoint chain (test/nft/service-shape.ts). */
const PICK = (process.env.NFT_BENCH_PICK ?? "anonymous") as ServicePick;
/** NFT_BENCH_EMPTY_ENDPOINTS=1: endpoint chains without rules, the kernel's revalidation floor. */
const EMPTY_ENDPOINTS = process.env.NFT_BENCH_EMPTY_ENDPOINTS === "1";
const VARIANT = { pick: PICK, emptyEndpoints: EMPTY_ENDPOINTS };
const JSON_SERVICES = Math.min(SERVICES, 2_500);
// Each full sync starts in an empty namespace of its own: the layer's table lives in `ns`, the
// baseline's in `nsNft`, and each one-element baseline runs on the baseline's table (no undo steps).
// A third namespace takes an untimed warm-up copy first: on this machine the first rule set with
// thousands of anonymous maps after a pause costs the kernel up to twice as long as the next one,
// whoever sends it.
const ns = `wpt-nft-bench-${process.pid}`;
const nsNft = `wpt-nft-bench-${process.pid}-b`;
const nsWarm = `wpt-nft-bench-${process.pid}-w`;

interface Row {
  what: string;
  path?: string;
  renderMs?: number;
  bytes?: number;
  applyMs: number;
  /** Netlink path: the kernel's share of applyMs (sendmsg to its last reply). */
  kernelMs?: number;
  baselineMs?: number;
  /** The baseline nft process's system CPU time (its batch, and for partial changes its cache dump). */
  baselineKernelMs?: number;
}

function ms(n: number | undefined): string {
  return n === undefined ? "" : n < 100 ? n.toFixed(1) : n.toFixed(0);
}

interface NftRun {
  wallMs: number;
  /** CPU time of the nft process in the kernel: nf_tables processes a batch in the sender's context. */
  kernelMs: number;
}

/** `nft -f -` in the baseline's namespace, with its system CPU time (bash's `times` for children). */
function nftBaseline(script: string): Promise<NftRun> {
  const shell = 'nft -f -; status=$?; times >&2; exit "$status"';
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn("ip", ["netns", "exec", nsNft, "bash", "-c", shell], {
      stdio: ["pipe", "ignore", "pipe"],
    });
    const err: Buffer[] = [];
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on("close", (code) => {
      const wallMs = performance.now() - started;
      const stderr = Buffer.concat(err).toString("utf8").trim();
      if (code !== 0) return reject(new Error(`nft -f: ${stderr.slice(0, 500)}`));
      // `times` prints the shell's user/system times, then its children's.
      const children = stderr.split("\n").at(-1)?.split(" ") ?? [];
      const seconds = (t = "") => {
        const m = /^(\d+)m([\d.]+)s$/.exec(t);
        return m ? (Number(m[1]) * 60 + Number(m[2])) * 1000 : Number.NaN;
      };
      resolve({ wallMs, kernelMs: seconds(children[1]) });
    });
    child.stdin.end(script);
  });
}

async function dropTable(): Promise<void> {
  await runNft(["delete", "table", "inet", "wasmplane"], { netns: ns });
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  let t = performance.now();
  const desired = serviceShapedTable(SERVICES, "wasmplane", undefined, VARIANT);
  const buildMs = performance.now() - t;
  const native = serviceShapedNativeText(SERVICES, "wasmplane", undefined, VARIANT);

  const warmUp = await applyTransaction(planSync(null, desired).tx, { netns: nsWarm }); // not in the table

  // Through the layer: diff from nothing, render, apply; then the baseline.
  t = performance.now();
  const plan = planSync(null, desired);
  const diffMs = performance.now() - t;
  const applied = await applyTransaction(plan.tx, { netns: ns });
  const nativeRun = await nftBaseline(native); // the same rule set as native text, via nft -f
  rows.push({
    what: `full sync, ${SERVICES} services (${desired.chains.size} chains)`,
    path: applied.format,
    renderMs: diffMs + applied.renderMs,
    bytes: applied.bytes,
    applyMs: applied.durationMs,
    kernelMs: applied.kernelMs,
    baselineMs: nativeRun.wallMs,
    baselineKernelMs: nativeRun.kernelMs,
  });

  // The netlink sender is a long-lived process per namespace (as in the agent): start it untimed.
  await sendBatch(encodeTransaction(new Transaction("inet", "wasmplane"), { sets: new Map() }).bytes, ns);

  // One element changed on top (one service's port). Planners keep unchanged chain and element
  // objects between syncs (the service planner re-plans only changed services), so does this.
  const services = desired.sets.get("services")!;
  const changed: DesiredTable = {
    ...desired,
    sets: new Map(desired.sets).set("services", {
      ...services,
      elements: services.elements.map((el, i) =>
        i === 17 ? element(concat(serviceIP(17), "tcp", 9443), el.value) : el,
      ),
    }),
  };
  t = performance.now();
  const small = planSync(desired, changed);
  const smallScript = renderText(small.tx);
  const smallRenderMs = performance.now() - t;
  const smallApplied = await applyTransaction(small.tx, { netns: ns });
  // Baseline: the same two commands with nft -f directly, on the baseline's table.
  const smallNative = await nftBaseline(smallScript);
  rows.push({
    what: "one element changed on top",
    path: smallApplied.format,
    renderMs: smallRenderMs,
    bytes: smallApplied.bytes,
    applyMs: smallApplied.durationMs,
    kernelMs: smallApplied.kernelMs,
    baselineMs: smallNative.wallMs,
    baselineKernelMs: smallNative.kernelMs,
  });
  // A pure addition (no delete command). nft 1.0.6 fetches every chain and set of the table before
  // any element command, add or delete, so this costs about the same as the change above.
  const grown: DesiredTable = {
    ...desired,
    sets: new Map(desired.sets).set("services", {
      ...services,
      elements: [...services.elements, element(concat("10.97.0.1", "tcp", 80), services.elements[0].value)],
    }),
  };
  t = performance.now();
  const addOnly = planSync(desired, grown);
  const addScript = renderText(addOnly.tx);
  const addRenderMs = performance.now() - t;
  const added = await applyTransaction(addOnly.tx, { netns: ns });
  const addNative = await nftBaseline(addScript);
  rows.push({
    what: "one element added on top (no delete)",
    path: added.format,
    renderMs: addRenderMs,
    bytes: added.bytes,
    applyMs: added.durationMs,
    kernelMs: added.kernelMs,
    baselineMs: addNative.wallMs,
    baselineKernelMs: addNative.kernelMs,
  });
  // A pure deletion: no verdict is added, so the kernel has no jump graph to revalidate.
  const delPlan = planSync(grown, desired);
  const delScript = renderText(delPlan.tx);
  const deleted = await applyTransaction(delPlan.tx, { netns: ns });
  const delNative = await nftBaseline(delScript);
  rows.push({
    what: "one element deleted on top",
    path: deleted.format,
    renderMs: deleted.renderMs,
    bytes: deleted.bytes,
    applyMs: deleted.durationMs,
    kernelMs: deleted.kernelMs,
    baselineMs: delNative.wallMs,
    baselineKernelMs: delNative.kernelMs,
  });
  await dropTable();

  // JSON vs text, same transaction, at a size where one run takes seconds rather than minutes.
  const jsonShape = serviceShapedTable(JSON_SERVICES);
  const textRun = await applyTransaction(planSync(null, jsonShape).tx, {
    netns: ns,
    format: "text",
    path: "nft",
  });
  await dropTable();
  const jsonRun = await applyTransaction(planSync(null, jsonShape).tx, {
    netns: ns,
    format: "json",
    path: "nft",
  });
  await dropTable();
  rows.push({
    what: `text script, ${JSON_SERVICES} services`,
    renderMs: textRun.renderMs,
    bytes: textRun.bytes,
    applyMs: textRun.durationMs,
  });
  rows.push({
    what: `JSON script, same transaction`,
    path: jsonRun.format,
    renderMs: jsonRun.renderMs,
    bytes: jsonRun.bytes,
    applyMs: jsonRun.durationMs,
    baselineMs: textRun.durationMs,
  });

  console.log(
    `nft ${execFileSync("nft", ["--version"], { encoding: "utf8" }).trim()}, netns ${ns} (baseline ${nsNft}), service chains pick endpoints by ${PICK} (NFT_BENCH_PICK)${EMPTY_ENDPOINTS ? ", endpoint chains empty (NFT_BENCH_EMPTY_ENDPOINTS)" : ""}`,
  );
  console.log(`building the desired table (planner side, not counted): ${buildMs.toFixed(0)} ms`);
  console.log(
    `warm-up copy in ${nsWarm} (not counted): ${warmUp.durationMs.toFixed(0)} ms, kernel ${ms(warmUp.kernelMs)} ms`,
  );
  const header = [
    "case",
    "path",
    "render ms",
    "bytes",
    "apply ms",
    "kernel ms",
    "baseline ms",
    "baseline kernel ms",
    "ratio (render+apply)/baseline",
  ];
  const lines = rows.map((r) => [
    r.what,
    r.path ?? "text",
    ms(r.renderMs),
    r.bytes === undefined ? "" : String(r.bytes),
    ms(r.applyMs),
    ms(r.kernelMs),
    ms(r.baselineMs),
    ms(r.baselineKernelMs),
    r.baselineMs ? `${(((r.renderMs ?? 0) + r.applyMs) / r.baselineMs).toFixed(2)}x` : "",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ")} |`;
  console.log(fmt(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const l of lines) console.log(fmt(l));
  console.log(
    "baselines: full sync = the same rule set as one native `table { … }` block via nft -f; one element = the same two commands via nft -f; render = diff + nft script or netlink batch (path);",
  );
  console.log(
    "kernel ms = the netlink sender's time from sendmsg to the last reply; baseline kernel ms = the nft process's system CPU time, 10 ms resolution (its batch, plus the ruleset dump nft 1.0.6 does before any change).",
  );
  console.log(
    "JSON row: baseline is the text script of the same transaction, both through nft -f. Targets: full ≤ 1.15x; one element ≤ 20 ms and ≤ 2048 bytes.",
  );
}

const namespaces = [ns, nsNft, nsWarm];
for (const name of namespaces) execFileSync("ip", ["netns", "add", name]);
try {
  await main();
} finally {
  for (const name of namespaces) {
    closeSession(name);
    execFileSync("ip", ["netns", "delete", name]);
  }
}
