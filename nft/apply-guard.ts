// Chooses how transactions reach the kernel for one long-lived user (the agent) and counts every
// fallback: the netlink self-test runs before the first transaction and pins the path to `nft -f`
// when it fails; a batch the kernel refuses through netlink is retried once through `nft -f`
// (nft/apply.ts) and counted here.
import { type ApplyOptions, type ApplyResult, applyTransaction, NftRetryFailed } from "./apply.ts";
import { type SelfTestResult, selfTestNetlink } from "./self-test.ts";
import type { Transaction } from "./transaction.ts";

export interface ApplyPathStats {
  /** Where transactions go: "netlink" first (nft -f for what it does not cover), or only "nft"; "pending" until the self-test ran. */
  path: "netlink" | "nft" | "pending";
  selfTest: {
    state: "pending" | "passed" | "failed" | "skipped";
    /** Why it failed, or why it was skipped. */
    reason?: string;
    durationMs?: number;
  };
  /** Transactions applied, per route (nft counts those the encoder does not cover and pinned ones). */
  applied: { netlink: number; nft: number };
  /** Netlink batches the kernel refused (each retried once through nft -f). */
  netlinkRefused: number;
  /** How the retries through nft -f went. */
  nftRetries: { ok: number; failed: number };
}

export interface ApplyGuardOptions {
  /** Network namespace the transactions go into; the current one when absent. */
  netns?: string;
  log?: (line: string) => void;
  /** The netlink self-test; selfTestNetlink() unless a test injects another. */
  selfTest?: () => Promise<SelfTestResult>;
  /** Passed to every applyTransaction (a test injects a faulty encoder here). */
  apply?: Pick<ApplyOptions, "encode">;
}

export class ApplyGuard {
  private readonly log: (line: string) => void;
  private selfTest: Promise<void> | null = null;
  private readonly state: ApplyPathStats = {
    path: "pending",
    selfTest: { state: "pending" },
    applied: { netlink: 0, nft: 0 },
    netlinkRefused: 0,
    nftRetries: { ok: 0, failed: 0 },
  };

  constructor(private readonly options: ApplyGuardOptions = {}) {
    this.log = options.log ?? ((line) => console.log(line));
  }

  /** Runs the self-test once (later calls wait for the same run) and fixes the path from its result. */
  ready(): Promise<void> {
    this.selfTest ??= this.runSelfTest();
    return this.selfTest;
  }

  private async runSelfTest(): Promise<void> {
    if (process.env.WASMPLANE_NFT_PATH === "nft") {
      this.state.selfTest = { state: "skipped", reason: "WASMPLANE_NFT_PATH=nft" };
      this.state.path = "nft";
      return;
    }
    const result = await (this.options.selfTest ?? (() => selfTestNetlink()))().catch(
      (err: Error): SelfTestResult => ({ ok: false, reason: err.message, durationMs: 0 }),
    );
    const durationMs = Math.round(result.durationMs);
    if (result.ok) {
      this.state.selfTest = { state: "passed", durationMs };
      this.state.path = "netlink";
      this.log(`apply path: netlink (self-test passed in ${durationMs} ms)`);
    } else {
      this.state.selfTest = { state: "failed", reason: result.reason, durationMs };
      this.state.path = "nft";
      this.log(
        `problem: netlink self-test failed: ${result.reason}; applying every transaction through nft -f`,
      );
    }
  }

  /** Applies `tx` on the chosen path, counting refusals and retries. */
  async apply(tx: Transaction): Promise<ApplyResult> {
    await this.ready();
    const opts: ApplyOptions = {
      ...this.options.apply,
      ...(this.options.netns ? { netns: this.options.netns } : {}),
      path: this.state.path === "netlink" ? "auto" : "nft",
    };
    try {
      const result = await applyTransaction(tx, opts);
      if (result.netlinkRefused) {
        this.state.netlinkRefused++;
        this.state.nftRetries.ok++;
        this.log(
          `warning: ${result.netlinkRefused.message}\n  retried once through nft -f, which applied the transaction`,
        );
      }
      if (result.operations > 0) this.state.applied[result.format === "netlink" ? "netlink" : "nft"]++;
      return result;
    } catch (err) {
      if (err instanceof NftRetryFailed) {
        this.state.netlinkRefused++;
        this.state.nftRetries.failed++;
      }
      throw err;
    }
  }

  stats(): ApplyPathStats {
    return structuredClone(this.state);
  }
}
