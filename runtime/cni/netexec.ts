// Runs attachment plans in the node's namespace through one long-lived `sh` started there (with
// nsenter when the node is a named namespace: nft/netns.ts). Writing sysctls is then a shell
// builtin and `ip` is the only process per step: process start-up, not the kernel, is most of an
// ADD's cost.
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { inNamedNetns, inNetns } from "../../nft/netns.ts";
import { shellQuote } from "./attachment.ts";
import { CniError, ErrorCode } from "./spec.ts";

// runtime/services/conntrack.ts still imports these from here.
export { inNetns, namedNetnsPath } from "../../nft/netns.ts";

export interface ScriptOutput {
  code: number;
  /** stdout and stderr together. */
  output: string;
}

interface Pending {
  resolve: (out: ScriptOutput) => void;
  reject: (err: Error) => void;
}

export class NodeShell {
  private child: ChildProcessWithoutNullStreams | null = null;
  private buffer = "";
  private readonly marker = `__wasmplane_done_${randomBytes(8).toString("hex")}`;
  private pending: Pending | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly nodeNetns: string | undefined) {}

  private start(): ChildProcessWithoutNullStreams {
    const [cmd, args] = inNamedNetns(this.nodeNetns, "sh", []);
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    // Output of a shell that was replaced (killed on timeout) is ignored.
    child.stdout
      .setEncoding("utf8")
      .on("data", (chunk: string) => this.child === child && this.onData(chunk));
    child.stderr
      .setEncoding("utf8")
      .on("data", (chunk: string) => this.child === child && this.onData(chunk));
    child.stdin.on("error", () => {});
    const died = (reason: string) => {
      if (this.child !== child) return;
      this.child = null;
      const p = this.pending;
      this.pending = null;
      p?.reject(new CniError(ErrorCode.kernelFailure, `node shell ${reason}`));
    };
    child.on("error", (err) => died(`failed: ${err.message}`));
    child.on("exit", (code) => died(`exited with status ${code}`));
    this.child = child;
    this.buffer = "";
    return child;
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    const at = this.buffer.indexOf(this.marker);
    if (at < 0) return;
    const nl = this.buffer.indexOf("\n", at);
    if (nl < 0) return;
    const code = Number(this.buffer.slice(at + this.marker.length, nl).trim());
    const output = this.buffer.slice(0, at);
    this.buffer = this.buffer.slice(nl + 1);
    const p = this.pending;
    this.pending = null;
    p?.resolve({ code, output });
  }

  /**
   * Runs a script in a subshell (so `set -e` and `exit` stay inside it); one at a time. A script
   * still running after `timeoutMs` has its shell killed (a fresh one serves the next script).
   */
  run(script: string, timeoutMs = 30_000): Promise<ScriptOutput> {
    const next = this.queue.then(
      () =>
        new Promise<ScriptOutput>((resolve, reject) => {
          const child = this.child ?? this.start();
          const timer = setTimeout(() => {
            this.pending = null;
            if (this.child === child) this.child = null;
            child.kill("SIGKILL");
            reject(
              new CniError(
                ErrorCode.kernelFailure,
                `node shell: no answer within ${timeoutMs} ms; restarted`,
              ),
            );
          }, timeoutMs);
          this.pending = {
            resolve: (out) => {
              clearTimeout(timer);
              resolve(out);
            },
            reject: (err) => {
              clearTimeout(timer);
              reject(err);
            },
          };
          child.stdin.write(`(\n${script}\n) </dev/null 2>&1\nprintf '\\n%s %s\\n' ${this.marker} $?\n`);
        }),
    );
    this.queue = next.catch(() => {});
    return next;
  }

  close(): void {
    this.child?.stdin.end();
    this.child = null;
  }
}

/** Runs a script in the node's namespace; a non-zero status is a CniError naming `what`. */
export async function runNodeScript(shell: NodeShell, script: string, what: string): Promise<string> {
  const out = await shell.run(script);
  // The marker is preceded by a newline we added; drop it.
  const text = out.output.endsWith("\n") ? out.output.slice(0, -1) : out.output;
  if (out.code !== 0)
    throw new CniError(ErrorCode.kernelFailure, `${what}: ${text.trim() || `exit status ${out.code}`}`);
  return text;
}

/** One `ip -j …` query in the node's namespace (or, with `podNetns`, in a pod's), parsed. */
export async function ipJson<T>(
  shell: NodeShell,
  args: string[],
  what: string,
  podNetns?: string,
): Promise<T> {
  const [cmd, argv] = podNetns ? inNetns(podNetns, "ip", ["-j", ...args]) : ["ip", ["-j", ...args]];
  const text = await runNodeScript(shell, [cmd, ...argv].map(shellQuote).join(" "), what);
  return JSON.parse(text.trim() || "[]") as T;
}
