// Runs one admitted plugin in its own worker thread and calls it with a time budget. Calls are
// serialized; input and output cross through a SharedArrayBuffer, and the host waits with
// Atomics.waitAsync so the agent's event loop keeps running. On timeout the worker is terminated
// (the only way to stop a synchronous Wasm loop) and a new one is started.
import { Worker } from "node:worker_threads";
import type { AdmittedPlugin } from "./admission.ts";
import { CallLatency } from "./call-latency.ts";
import { waitAsync } from "./platform.ts";

const STATE = 0;
const LENGTH = 1;
const RESULT = 2;
const SEED = 3;
const MEMORY_BYTES = 4;
/** How long the host blocks for an answer before it yields to the event loop. */
const SYNC_WAIT_MS = 0.25;
const REQUEST = 1;
const STOP = 3;
const RESULT_OK = 0;
const RESULT_TRAP = 1;

const workerUrl = new URL("./worker.mjs", import.meta.url);

export interface PluginWorkerOptions {
  /** Wall-clock budget for one call, in milliseconds. */
  callBudgetMs: number;
  /** Seed for the `random` capability, applied at the start of every call. */
  randomSeed: number;
  /** Receives lines a plugin logs through the granted `log` capability. */
  onLog?: (plugin: string, line: string) => void;
}

export type CallOutcome =
  | { ok: true; output: Uint8Array; call: number }
  | {
      ok: false;
      error: string;
      reason: "trap" | "timeout" | "protocol" | "unavailable";
      call: number;
      /** The plugin trapped with at least half its memory cap in use (allocators grow in big steps): a smaller batch may succeed. */
      memoryExhausted?: boolean;
    };

export interface CallOptions {
  /**
   * Return the output as a view of a buffer this worker reuses: valid until the next call on this
   * worker answers, so decode it before awaiting anything.
   */
  reuseOutput?: boolean;
}

export interface PluginWorkerStats {
  calls: number;
  failures: number;
  traps: number;
  timeouts: number;
  restarts: number;
  /** How long each call took, failed ones included (from its turn in the queue to its outcome). */
  latency: CallLatency;
}

/**
 * What /metrics reads of a running worker. Each owner of workers (the LB planner, the IPAM and
 * policy deciders) lists its own; the agent collects them.
 */
export interface RunningWorker {
  readonly plugin: {
    readonly name: string;
    readonly manifest: { readonly kind: string; readonly version: string };
    readonly inspected: { readonly sha256: string };
  };
  readonly stats: {
    readonly calls: number;
    readonly failures: number;
    readonly traps: number;
    readonly timeouts: number;
    readonly restarts: number;
    readonly latency: CallLatency;
  };
  /** What the host that owns the worker counts of its answers, when it counts them. */
  readonly answers?: { readonly invalid: number };
}

export class PluginWorker {
  readonly stats: PluginWorkerStats = {
    calls: 0,
    failures: 0,
    traps: 0,
    timeouts: 0,
    restarts: 0,
    latency: new CallLatency(),
  };
  private worker: Worker | null = null;
  private ready: Promise<void> | null = null;
  private startError: string | null = null;
  private ctrl: Int32Array;
  /** The private output buffer of calls made with `reuseOutput`. */
  private output = new Uint8Array(0);
  private data: Uint8Array;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Set while a call waits on `worker`: resolves it if that worker dies mid-call. */
  private onExit: { worker: Worker; resolve: () => void } | null = null;

  constructor(
    readonly plugin: AdmittedPlugin,
    readonly options: PluginWorkerOptions,
  ) {
    this.ctrl = new Int32Array(new SharedArrayBuffer(32));
    // Input and output both live in the plugin's capped memory, so the cap bounds the exchange buffer.
    // Pages of a SharedArrayBuffer that are never touched are never backed by RAM.
    const bytes = plugin.memory.maximumPages * 65536;
    this.data = new Uint8Array(new SharedArrayBuffer(Math.max(bytes, 65536)));
  }

  get name(): string {
    return this.plugin.name;
  }

  /** Starts the worker (idempotent); rejects when the module cannot be instantiated. */
  start(): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`plugin ${this.name} is closed`));
    if (this.ready) return this.ready;
    Atomics.store(this.ctrl, STATE, 0);
    const worker = new Worker(workerUrl, {
      workerData: {
        module: this.plugin.module,
        memory: this.plugin.memory,
        grants: this.plugin.grants,
        ctrl: this.ctrl.buffer,
        data: this.data.buffer,
      },
    });
    worker.unref();
    this.worker = worker;
    this.ready = new Promise<void>((resolve, reject) => {
      worker.on("message", (msg: { type: string; message?: string; line?: string }) => {
        if (msg.type === "ready") {
          resolve();
        } else if (msg.type === "failed") {
          this.startError = `cannot be instantiated: ${msg.message}`;
          reject(new Error(`plugin ${this.name} ${this.startError}`));
        } else if (msg.type === "log" && msg.line !== undefined) this.options.onLog?.(this.name, msg.line);
      });
      worker.on("error", (err) => reject(new Error(`plugin ${this.name} worker failed: ${err.message}`)));
      worker.on("exit", (code) => {
        if (this.worker === worker) {
          this.worker = null;
          this.ready = null;
        }
        reject(new Error(`plugin ${this.name} worker exited (code ${code}) before it was ready`));
        if (this.onExit?.worker === worker) this.onExit.resolve();
      });
    });
    this.ready.catch(() => {});
    return this.ready;
  }

  /**
   * One call with the budget. Calls queue behind each other. The input may come in parts (e.g. a
   * header and a run of items encoded elsewhere): they are copied back to back into the exchange
   * buffer, so no envelope has to be assembled first.
   */
  call(
    input: Uint8Array | readonly Uint8Array[],
    budgetMs = this.options.callBudgetMs,
    opts: CallOptions = {},
  ): Promise<CallOutcome> {
    const run = this.queue.then(() => this.timedCall(input, budgetMs, opts.reuseOutput === true));
    this.queue = run.catch(() => {});
    return run;
  }

  private async timedCall(
    input: Uint8Array | readonly Uint8Array[],
    budgetMs: number,
    reuseOutput: boolean,
  ): Promise<CallOutcome> {
    const started = performance.now();
    try {
      return await this.callNow(input, budgetMs, reuseOutput);
    } finally {
      this.stats.latency.record(performance.now() - started);
    }
  }

  private async callNow(
    input: Uint8Array | readonly Uint8Array[],
    budgetMs: number,
    reuseOutput: boolean,
  ): Promise<CallOutcome> {
    const call = ++this.stats.calls;
    const fail = (reason: "trap" | "timeout" | "protocol" | "unavailable", error: string): CallOutcome => {
      this.stats.failures++;
      if (reason === "trap") this.stats.traps++;
      if (reason === "timeout") this.stats.timeouts++;
      return { ok: false, reason, error, call };
    };
    try {
      await this.start();
    } catch (err) {
      return fail("unavailable", (err as Error).message);
    }
    const parts = input instanceof Uint8Array ? [input] : input;
    let length = 0;
    for (const part of parts) length += part.length;
    if (length > this.data.length)
      return fail("protocol", `input of ${length} bytes exceeds the ${this.data.length}-byte memory cap`);
    const worker = this.worker!;
    let at = 0;
    for (const part of parts) {
      this.data.set(part, at);
      at += part.length;
    }
    Atomics.store(this.ctrl, LENGTH, length);
    Atomics.store(this.ctrl, SEED, this.options.randomSeed | 0);
    Atomics.store(this.ctrl, STATE, REQUEST);
    Atomics.notify(this.ctrl, STATE);

    const status = await this.waitForAnswer(worker, budgetMs);
    if (status !== "answered") {
      await this.restart(worker);
      if (status === "exited") return fail("trap", "worker exited during the call; restarted");
      return fail(
        "timeout",
        `exceeded its time budget of ${Math.round(budgetMs)} ms; worker terminated and restarted`,
      );
    }
    const outLength = Atomics.load(this.ctrl, LENGTH);
    const result = Atomics.load(this.ctrl, RESULT);
    // A private copy: decoding from a SharedArrayBuffer is several times slower. A fresh one outlives
    // the next call; the reused one saves allocating it (a new 100 KiB ArrayBuffer costs ~0.3 ms here,
    // copying into an existing one ~5 µs).
    if (result === RESULT_OK) {
      if (!reuseOutput) return { ok: true, output: this.data.slice(0, outLength), call };
      if (this.output.length < outLength)
        this.output = new Uint8Array(Math.max(outLength, this.output.length * 2));
      this.output.set(this.data.subarray(0, outLength));
      return { ok: true, output: this.output.subarray(0, outLength), call };
    }
    const message = new TextDecoder().decode(this.data.slice(0, outLength));
    if (result === RESULT_TRAP) {
      const outcome = fail("trap", `trapped: ${message}; instance discarded`);
      const used = Atomics.load(this.ctrl, MEMORY_BYTES) >>> 0;
      const cap = this.plugin.memory.maximumPages * 65536;
      return { ...outcome, memoryExhausted: used >= cap * 0.5 } as CallOutcome;
    }
    return fail("protocol", `broke the call protocol: ${message}; instance discarded`);
  }

  /**
   * Waits until the worker moves the state word off REQUEST. A wake-up alone proves nothing: the
   * worker stores DONE, then notifies, and when it is preempted in between, the host may already
   * have seen DONE, started the next call, and be woken by that late notify. So the word is checked
   * after every wake-up, and only a word off REQUEST counts as an answer.
   */
  private async waitForAnswer(
    worker: Worker,
    budgetMs: number,
  ): Promise<"answered" | "timed-out" | "exited"> {
    const deadline = performance.now() + budgetMs;
    // Most calls answer within microseconds: block briefly (cheaper than an event-loop round trip),
    // then wait asynchronously so the agent keeps serving during a long call.
    Atomics.wait(this.ctrl, STATE, REQUEST, SYNC_WAIT_MS);
    if (Atomics.load(this.ctrl, STATE) !== REQUEST) return "answered";
    const exited = new Promise<"exited">((resolve) => {
      this.onExit = { worker, resolve: () => resolve("exited") };
    });
    try {
      for (;;) {
        const left = deadline - performance.now();
        if (left <= 0) return "timed-out";
        const waited = waitAsync(this.ctrl, STATE, REQUEST, left);
        const status = waited.async ? await Promise.race([waited.value, exited]) : waited.value;
        if (Atomics.load(this.ctrl, STATE) !== REQUEST) return "answered";
        if (status === "exited") return "exited";
      }
    } finally {
      this.onExit = null;
    }
  }

  private async restart(worker: Worker): Promise<void> {
    this.stats.restarts++;
    if (this.worker === worker) {
      this.worker = null;
      this.ready = null;
    }
    await worker.terminate();
    if (!this.closed) this.start().catch(() => {});
  }

  /** Stops the worker; further calls fail. */
  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    const worker = this.worker;
    this.worker = null;
    this.ready = null;
    if (worker) {
      Atomics.store(this.ctrl, STATE, STOP);
      Atomics.notify(this.ctrl, STATE);
      await worker.terminate();
    }
  }
}
