// bench/nft-apply: a 10,000-service-shaped rule set (10,000-element verdict map, 40,000 chains)
// built and applied through nft/ against the same rule set written as native text and applied with
// `nft -f` directly, in a throwaway network namespace; then a one-element change on top; then the
// JSON path against the text path at 2,500 services. One run of each (the machine is shared).
import { execFileSync } from "node:child_process";
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
const JSON_SERVICES = Math.min(SERVICES, 2_500);
const ns = `wpt-nft-bench-${process.pid}`;

interface Row {
  what: string;
  path?: string;
  renderMs?: number;
  bytes?: number;
  applyMs: number;
  /** Netlink path: the kernel's share of applyMs (sendmsg to its last reply). */
  kernelMs?: number;
  baselineMs?: number;
}

function ms(n: number | undefined): string {
  return n === undefined ? "" : n < 100 ? n.toFixed(1) : n.toFixed(0);
}

async function nftOk(args: string[], input?: string): Promise<number> {
  const out = await runNft(args, { netns: ns }, input);
  if (out.code !== 0) throw new Error(`nft ${args.join(" ")}: ${out.stderr.trim().slice(0, 500)}`);
  return out.durationMs;
}

async function dropTable(): Promise<void> {
  await runNft(["delete", "table", "inet", "wasmplane"], { netns: ns });
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  let t = performance.now();
  const desired = serviceShapedTable(SERVICES, "wasmplane", undefined, PICK);
  const buildMs = performance.now() - t;
  const native = serviceShapedNativeText(SERVICES, "wasmplane", undefined, PICK);

  // Baseline: the same rule set as hand-written native text, applied with nft -f directly.
  const nativeMs = await nftOk(["-f", "-"], native);
  await dropTable();

  // Through the layer: diff from nothing, render, apply.
  t = performance.now();
  const plan = planSync(null, desired);
  const diffMs = performance.now() - t;
  const applied = await applyTransaction(plan.tx, { netns: ns });
  rows.push({
    what: `full sync, ${SERVICES} services (${desired.chains.size} chains)`,
    path: applied.format,
    renderMs: diffMs + applied.renderMs,
    bytes: applied.bytes,
    applyMs: applied.durationMs,
    baselineMs: nativeMs,
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
  // Baseline: undo it, then the same two commands with nft -f directly.
  const back = smallScript
    .replace("10.96.0.17 . tcp . 81 }", "10.96.0.17 . tcp . 9443 }")
    .replace("10.96.0.17 . tcp . 9443 : goto", "10.96.0.17 . tcp . 81 : goto");
  await nftOk(["-f", "-"], back); // undo, untimed
  const smallNativeMs = await nftOk(["-f", "-"], smallScript);
  rows.push({
    what: "one element changed on top",
    path: smallApplied.format,
    renderMs: smallRenderMs,
    bytes: smallApplied.bytes,
    applyMs: smallApplied.durationMs,
    kernelMs: smallApplied.kernelMs,
    baselineMs: smallNativeMs,
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
  await nftOk(
    ["-f", "-"],
    addScript.replace("add element", "delete element").replace(/ : goto [^ ]+ }/, " }"),
  );
  const addNativeMs = await nftOk(["-f", "-"], addScript);
  rows.push({
    what: "one element added on top (no delete)",
    path: added.format,
    renderMs: addRenderMs,
    bytes: added.bytes,
    applyMs: added.durationMs,
    kernelMs: added.kernelMs,
    baselineMs: addNativeMs,
  });
  // A pure deletion: no verdict is added, so the kernel has no jump graph to revalidate.
  const delPlan = planSync(grown, desired);
  const delScript = renderText(delPlan.tx);
  const deleted = await applyTransaction(delPlan.tx, { netns: ns });
  await nftOk(
    ["-f", "-"],
    delScript.replace("delete element", "add element").replace(/ }\n?$/, " : goto svc-0 }\n"),
  );
  const delNativeMs = await nftOk(["-f", "-"], delScript);
  rows.push({
    what: "one element deleted on top",
    path: deleted.format,
    renderMs: deleted.renderMs,
    bytes: deleted.bytes,
    applyMs: deleted.durationMs,
    kernelMs: deleted.kernelMs,
    baselineMs: delNativeMs,
  });
  // The kernel's share: the sender's own time from sendmsg to the last reply, for an added verdict.
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
    `nft ${execFileSync("nft", ["--version"], { encoding: "utf8" }).trim()}, netns ${ns}, service chains pick endpoints by ${PICK} (NFT_BENCH_PICK)`,
  );
  console.log(`building the desired table (planner side, not counted): ${buildMs.toFixed(0)} ms`);
  const header = [
    "case",
    "path",
    "render ms",
    "bytes",
    "apply ms",
    "kernel ms",
    "baseline ms",
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
    "JSON row: baseline is the text script of the same transaction, both through nft -f. Targets: full ≤ 1.15x; one element ≤ 20 ms and ≤ 2048 bytes.",
  );
}

execFileSync("ip", ["netns", "add", ns]);
try {
  await main();
} finally {
  closeSession(ns);
  execFileSync("ip", ["netns", "delete", ns]);
}
