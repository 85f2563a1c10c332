// The test's side of probe-pod.mjs: one process per pod network namespace, started with `ip netns
// exec`, spoken to with JSON lines. Every command has a deadline, so a stuck prober fails the test
// instead of hanging it.
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { ProbeOutcome } from "./harness-matrix.ts";
import type { ProbeKind } from "./harness-model.ts";

const script = fileURLToPath(new URL("./probe-pod.mjs", import.meta.url));

export interface ProbeResult {
  to: string;
  kind: ProbeKind;
  outcome: ProbeOutcome;
}

type Answer = Record<string, unknown>;

export class PodProber {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, (answer: Answer) => void>();
  private nextId = 1;
  private output = "";
  private readonly ready: Promise<void>;

  /** Starts the pod's server and prober in `netns`; `name` is what it answers ("x/a"). */
  constructor(
    readonly name: string,
    readonly netns: string,
  ) {
    this.child = spawn("ip", ["netns", "exec", netns, process.execPath, script, name], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.child.stdin?.on("error", () => {});
    this.ready = new Promise((resolve, reject) => {
      let buffer = "";
      this.child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
        buffer += chunk;
        for (let i = buffer.indexOf("\n"); i >= 0; i = buffer.indexOf("\n")) {
          const line = buffer.slice(0, i);
          buffer = buffer.slice(i + 1);
          this.onLine(line, resolve, reject);
        }
      });
      this.child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
        this.output += chunk;
      });
      this.child.once("exit", (code) => {
        reject(new Error(`prober ${name} (netns ${netns}) exited (${code}): ${this.output}`));
        for (const answer of this.pending.values()) answer({ error: `prober ${name} exited (${code})` });
        this.pending.clear();
      });
    });
    this.ready.catch(() => {});
  }

  private onLine(line: string, resolve: () => void, reject: (err: Error) => void): void {
    let message: Answer;
    try {
      message = JSON.parse(line) as Answer;
    } catch {
      this.output += `${line}\n`;
      return;
    }
    if (message.ready) resolve();
    else if (message.failed) reject(new Error(String(message.failed)));
    else if (typeof message.id === "number") {
      this.pending.get(message.id)?.(message);
      this.pending.delete(message.id);
    }
  }

  /** Resolves once the pod serves TCP and UDP on 80 and 81. */
  whenReady(timeoutMs = 10_000): Promise<void> {
    return withDeadline(this.ready, timeoutMs, `prober ${this.name} to start`);
  }

  private command(op: string, fields: Answer, timeoutMs: number): Promise<Answer> {
    const id = this.nextId++;
    const answer = new Promise<Answer>((resolve) => this.pending.set(id, resolve));
    this.child.stdin?.write(`${JSON.stringify({ id, op, ...fields })}\n`);
    return withDeadline(answer, timeoutMs, `prober ${this.name} to answer ${op}`).then((a) => {
      if (typeof a.error === "string" && a.ok === undefined && a.results === undefined)
        throw new Error(`prober ${this.name}: ${op}: ${a.error}`);
      return a;
    });
  }

  /** Probes every target on every kind at once; denied probes take `timeoutMs`. */
  async probe(
    targets: { to: string; ip: string }[],
    kinds: ProbeKind[],
    timeoutMs: number,
  ): Promise<ProbeResult[]> {
    const answer = await this.command("probe", { targets, kinds, timeoutMs }, timeoutMs + 10_000);
    const results = answer.results as (ProbeOutcome & { to: string; kind: ProbeKind })[];
    return results.map(({ to, kind, ok, answer: text, error, ms }) => ({
      to,
      kind,
      outcome: { ok, answer: text, error, ms },
    }));
  }

  /** Opens a TCP connection that stays open; resolves with what the server greeted it with. */
  async open(
    conn: string,
    ip: string,
    port: number,
    timeoutMs: number,
  ): Promise<{ ok: boolean; answer?: string; error?: string }> {
    return (await this.command("open", { conn, ip, port, timeoutMs }, timeoutMs + 10_000)) as {
      ok: boolean;
      answer?: string;
      error?: string;
    };
  }

  /** Sends a line over an open connection; ok when the server echoed it within `timeoutMs`. */
  async echo(
    conn: string,
    text: string,
    timeoutMs: number,
  ): Promise<{ ok: boolean; answer?: string; error?: string }> {
    return (await this.command("echo", { conn, text, timeoutMs }, timeoutMs + 10_000)) as {
      ok: boolean;
      answer?: string;
      error?: string;
    };
  }

  async close(conn: string): Promise<void> {
    await this.command("close", { conn }, 10_000);
  }

  /** Ends the process (closing stdin makes it exit; SIGKILL if it does not within a second). */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.stdin?.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 1000);
    await exited;
    clearTimeout(timer);
  }
}

function withDeadline<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs}ms waiting for ${what}`)),
      timeoutMs,
    );
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
