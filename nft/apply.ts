// Applies a transaction atomically (all or nothing) in a named network namespace or the current one:
// as one netlink batch (nft/netlink/) when the encoder covers every operation, else as one `nft -f -`
// run. A batch the kernel refuses through netlink is tried once more through `nft -f -`. The thin
// I/O edge of nft/: everything before it is pure.
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type EncodedBatch, type EncodeOptions, encodeTransaction } from "./netlink/encode.ts";
import { type BatchOutcome, sendBatch, senderBinary, senderProblem } from "./netlink/sender.ts";
import { NetlinkUnsupported } from "./netlink/values.ts";
import { inNamedNetns } from "./netns.ts";
import { renderJson } from "./render-json.ts";
import { operationText, renderText } from "./render-text.ts";
import type { Transaction } from "./transaction.ts";

export type ScriptFormat = "text" | "json";

/**
 * How a transaction reaches the kernel. "nft": an `nft -f` run. "netlink": one batch written by
 * nft/netlink/ (fails when the transaction holds an operation the encoder does not cover). "auto"
 * (default): netlink when every operation is covered and the sender is available, nft otherwise.
 * WASMPLANE_NFT_PATH=nft in the environment forces the nft executable everywhere.
 */
export type ApplyPath = "auto" | "nft" | "netlink";

export interface NftRunOptions {
  /** Network namespace name (as `ip netns` knows it); the current namespace when absent. */
  netns?: string;
}

export interface ApplyOptions extends NftRunOptions {
  /** Native text (default: faster on nft 1.0.6, see bench/nft-apply.ts) or libnftables JSON. */
  format?: ScriptFormat;
  path?: ApplyPath;
  /** The netlink encoder; encodeTransaction unless a test injects a faulty one. */
  encode?: (tx: Transaction, opts: EncodeOptions) => EncodedBatch;
}

export interface ApplyResult {
  /** "netlink" when the batch went through nft/netlink/, else the nft script format. */
  format: ScriptFormat | "netlink";
  operations: number;
  /** Size of what was sent: the nft script, or the netlink batch. */
  bytes: number;
  /** Wall-clock time of the nft run, or of sending the batch until the kernel answered. */
  durationMs: number;
  /** Time spent rendering the script (or encoding the netlink batch). */
  renderMs: number;
  /** Netlink path only: the kernel's share, from sendmsg to its last reply, as the sender measured it. */
  kernelMs?: number;
  /**
   * Set when the kernel refused the netlink batch and the retry through `nft -f` applied the
   * transaction (`format` is then the script's): why the netlink batch was refused.
   */
  netlinkRefused?: NftError;
}

/** Why nft refused a transaction: its own message, and the operation and script line that failed. */
export class NftError extends Error {
  constructor(
    message: string,
    readonly nftMessage: string,
    /** The failing command as sent (a script line, or a JSON command), when nft names it. */
    readonly command: string | undefined,
    /** Index into tx.ops of the failing operation, when known. */
    readonly operationIndex: number | undefined,
    readonly exitCode: number | null,
  ) {
    super(message);
    this.name = "NftError";
  }
}

/** Tables we may write: `wasmplane` and `wasmplane-…`. Everything else belongs to someone else. */
/** The kernel refused a netlink batch (nothing of it was applied). */
export class NetlinkRefused extends NftError {
  constructor(
    message: string,
    nftMessage: string,
    command: string | undefined,
    operationIndex: number | undefined,
  ) {
    super(message, nftMessage, command, operationIndex, null);
    this.name = "NetlinkRefused";
  }
}

/**
 * The kernel refused the netlink batch and the retry through `nft -f` failed too; nothing of either
 * was applied. The NftError fields are the retry's; `netlinkError` is the first refusal.
 */
export class NftRetryFailed extends NftError {
  constructor(
    readonly netlinkError: NetlinkRefused,
    readonly retryError: Error,
  ) {
    const retry = retryError instanceof NftError ? retryError : undefined;
    super(
      `${netlinkError.message}\n  retried once through nft -f, which failed too: ${retryError.message}`,
      retry?.nftMessage ?? retryError.message,
      retry?.command,
      retry?.operationIndex,
      retry?.exitCode ?? null,
    );
    this.name = "NftRetryFailed";
  }
}

export const OWNED_TABLE = /^wasmplane(?:-[a-z0-9][a-z0-9-]*)?$/;

export function assertOwnedTable(name: string): void {
  if (!OWNED_TABLE.test(name))
    throw new Error(
      `table ${name}: not a wasmplane table (names must match ${OWNED_TABLE}); refusing to touch it`,
    );
}

export interface NftOutput {
  code: number | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

/** Runs nft with `args` (and `input` on stdin), inside `opts.netns` when given. */
export function runNft(args: string[], opts: NftRunOptions = {}, input?: string): Promise<NftOutput> {
  const [cmd, argv] = inNamedNetns(opts.netns, "nft", args);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(cmd, argv, { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.stdin.on("error", () => {
      // nft may exit before reading all input; its exit status and stderr tell why.
    });
    child.on("close", (code) =>
      resolve({
        code,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        durationMs: performance.now() - started,
      }),
    );
    child.stdin.end(input ?? "");
  });
}

const LOCATED_ERROR = /^[^\n]*?:(\d+):\d+-\d+: Error: (.*)$/m;
const JSON_INDEX_ERROR = /Parsing command array at index (\d+) failed/;

function describeFailure(
  tx: Transaction,
  format: ScriptFormat,
  script: string,
  commandOps: number[] | null,
  output: NftOutput,
): NftError {
  const stderr = output.stderr.trim();
  const messages = stderr
    .split("\n")
    .filter((l) => l.includes("Error:"))
    .map((l) => l.replace(/^.*?Error: /, ""));
  const nftMessage = messages.join("; ") || stderr || `nft exited with ${output.code}`;
  let command: string | undefined;
  let operationIndex: number | undefined;
  if (format === "text") {
    const m = LOCATED_ERROR.exec(stderr);
    if (m) {
      operationIndex = Number(m[1]) - 1;
      command = script.split("\n", operationIndex + 1)[operationIndex];
    }
  } else {
    const m = JSON_INDEX_ERROR.exec(stderr);
    if (m && commandOps) {
      const index = Number(m[1]);
      operationIndex = commandOps[index];
      command = JSON.stringify((JSON.parse(script) as { nftables: unknown[] }).nftables[index]);
    }
  }
  const shown = command && command.length > 300 ? `${command.slice(0, 300)}…` : command;
  const where = shown ? `\n  failing command: ${shown}` : "";
  return new NftError(
    `nft refused the transaction on table ${tx.family} ${tx.table}: ${nftMessage}${where}`,
    nftMessage,
    command,
    operationIndex,
    output.code,
  );
}

function chosenPath(opts: ApplyOptions): ApplyPath {
  if (process.env.WASMPLANE_NFT_PATH === "nft") return "nft";
  if (opts.format === "json") return "nft";
  return opts.path ?? "auto";
}

/** Sends the transaction as one netlink batch; null when the encoder does not cover it (auto). */
async function applyNetlink(
  tx: Transaction,
  opts: ApplyOptions,
  required: boolean,
): Promise<ApplyResult | null> {
  if (!senderBinary()) {
    if (required)
      throw new Error(`netlink path requested, but the sender could not be built: ${senderProblem()}`);
    return null;
  }
  const renderStart = performance.now();
  let batch: ReturnType<typeof encodeTransaction>;
  try {
    batch = (opts.encode ?? encodeTransaction)(tx, { sets: tx.schema ?? new Map() });
  } catch (err) {
    if (err instanceof NetlinkUnsupported && !required) return null;
    throw err;
  }
  const renderMs = performance.now() - renderStart;
  const started = performance.now();
  const outcome = await sendBatch(batch.bytes, opts.netns);
  const durationMs = performance.now() - started;
  if (!outcome.ok) throw describeNetlinkFailure(tx, batch.firstSeq, batch.messageOps, outcome);
  return {
    format: "netlink",
    operations: tx.size,
    bytes: batch.bytes.length,
    durationMs,
    renderMs,
    kernelMs: outcome.kernelMs,
  };
}

function describeNetlinkFailure(
  tx: Transaction,
  firstSeq: number,
  messageOps: number[],
  outcome: BatchOutcome,
): NetlinkRefused {
  const first = outcome.errors[0];
  const nftMessage = first ? first.message : "the kernel refused the batch";
  const operationIndex = first ? messageOps[first.seq - firstSeq - 1] : undefined;
  const op = operationIndex === undefined ? undefined : tx.ops[operationIndex];
  const command = op ? operationText(op, tx.family, tx.table) : undefined;
  const shown = command && command.length > 300 ? `${command.slice(0, 300)}…` : command;
  return new NetlinkRefused(
    `the kernel refused the netlink batch on table ${tx.family} ${tx.table}: ${nftMessage}${shown ? `\n  failing command: ${shown}` : ""}`,
    nftMessage,
    command,
    operationIndex,
  );
}

/**
 * Applies the transaction atomically. An empty transaction does nothing. On path "auto", a netlink
 * batch the kernel refuses (which it applied none of) is sent once more through `nft -f`: the result
 * then carries `netlinkRefused`, and a retry that fails too throws NftRetryFailed with both errors.
 * A sender that dies mid-batch is not retried: the kernel may have committed it.
 */
export async function applyTransaction(tx: Transaction, opts: ApplyOptions = {}): Promise<ApplyResult> {
  assertOwnedTable(tx.table);
  const format = opts.format ?? "text";
  if (tx.size === 0) return { format, operations: 0, bytes: 0, durationMs: 0, renderMs: 0 };
  const path = chosenPath(opts);
  if (path === "nft") return applyScript(tx, opts, format);
  let viaNetlink: ApplyResult | null;
  try {
    viaNetlink = await applyNetlink(tx, opts, path === "netlink");
  } catch (err) {
    if (path !== "auto" || !(err instanceof NetlinkRefused)) throw err;
    return retryThroughNft(tx, opts, err);
  }
  return viaNetlink ?? applyScript(tx, opts, format);
}

async function retryThroughNft(
  tx: Transaction,
  opts: ApplyOptions,
  refused: NetlinkRefused,
): Promise<ApplyResult> {
  try {
    return { ...(await applyScript(tx, opts, "text")), netlinkRefused: refused };
  } catch (err) {
    throw new NftRetryFailed(refused, err as Error);
  }
}

/** Renders the transaction as an nft script and runs `nft -f` on it. */
async function applyScript(tx: Transaction, opts: ApplyOptions, format: ScriptFormat): Promise<ApplyResult> {
  const renderStart = performance.now();
  let script: string;
  let commandOps: number[] | null = null;
  if (format === "json") {
    for (const op of tx.ops)
      if ((op.kind === "map" || op.kind === "set") && "set" in op && Array.isArray(op.set.map))
        throw new Error(
          `map ${op.set.name}: nft 1.0.6 cannot read a map with a concatenated value type (${op.set.map.join(" . ")}) from JSON; apply this transaction as text`,
        );
    const r = renderJson(tx);
    script = r.text;
    commandOps = r.commandOps;
  } else {
    script = renderText(tx);
  }
  const renderMs = performance.now() - renderStart;
  let output: NftOutput;
  if (format === "json") {
    // nft 1.0.6 reads JSON from stdin by opening /dev/stdin, which fails on the socket pair Node
    // gives a child as stdin (ENXIO); a private temporary file works.
    const dir = await mkdtemp(join(tmpdir(), "wasmplane-nft-"));
    const file = join(dir, "tx.json");
    try {
      await writeFile(file, script);
      output = await runNft(["-j", "-f", file], opts);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  } else {
    output = await runNft(["-f", "-"], opts, script);
  }
  if (output.code !== 0) throw describeFailure(tx, format, script, commandOps, output);
  return {
    format,
    operations: tx.size,
    bytes: Buffer.byteLength(script),
    durationMs: output.durationMs,
    renderMs,
  };
}
