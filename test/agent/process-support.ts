// Helpers for tests that run the agent or the sandbox as a child process.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { AgentStatus } from "../../runtime/agent/status.ts";
import { fetchStatus } from "../../runtime/agent/status-server.ts";
import { type EchoServer, stopEchoServer } from "../../runtime/sandbox/echo-server.ts";
import type { SandboxPlan } from "../../runtime/sandbox/plan.ts";
import { namespacesOf } from "../../runtime/sandbox/topology.ts";
import { deleteNetns, uniqueNetnsName } from "../support/netns.ts";

export const root = fileURLToPath(new URL("../../", import.meta.url));
// `node --import tsx`, not the tsx CLI: the CLI is a parent process that relays signals and SIGKILLs
// a child that does not acknowledge within 30 ms (a busy agent mid-sync), exiting 143.
const runner = ["--import", "tsx"];
const main = `${root}runtime/main.ts`;

export interface Child {
  process: ChildProcess;
  /** Everything printed so far (stdout and stderr). */
  output(): string;
  /** Resolves with the first line matching `pattern`, failing after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

export function startWasmplane(args: string[]): Child {
  return watch(
    spawn(process.execPath, [...runner, main, ...args], { stdio: ["ignore", "pipe", "pipe"], cwd: root }),
  );
}

/**
 * `npm <script>` in the project, as the README runs it. Signals go to npm, as a supervisor (or
 * `timeout`) would send them: npm relays them to the script's process.
 */
export function startNpmScript(script: string): Child {
  return watch(spawn("npm", [script], { stdio: ["ignore", "pipe", "pipe"], cwd: root }));
}

function watch(child: ChildProcess): Child {
  let output = "";
  const listeners = new Set<() => void>();
  const onData = (b: Buffer) => {
    output += b.toString();
    for (const l of listeners) l();
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    process: child,
    output: () => output,
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = output.match(pattern);
          if (m) {
            cleanup();
            resolve(m);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${pattern}; output so far:\n${output}`));
        }, timeoutMs);
        const onExit = () => {
          cleanup();
          reject(new Error(`process exited (${child.exitCode}) before ${pattern}; output:\n${output}`));
        };
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
          child.off("exit", onExit);
        };
        listeners.add(check);
        child.once("exit", onExit);
        check();
      });
    },
    async stop(signal = "SIGTERM", timeoutMs = 20_000) {
      if (child.exitCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Sends `input` with socat from a namespace and returns what the server answered (or "" on no answer). */
function socatAnswer(netns: string, target: string, idleSeconds: number, input: string): string {
  try {
    return execFileSync("ip", ["netns", "exec", netns, "socat", `-T${idleSeconds}`, "-", target], {
      input,
      encoding: "utf8",
      timeout: 5000,
      stdio: ["pipe", "pipe", "ignore"],
    }).trim();
  } catch {
    return "";
  }
}

/** Opens a TCP connection from a namespace and returns the first line the server sends (or ""). */
export function tcpAnswer(netns: string, address: string, port: number): string {
  const target = address.includes(":") ? `TCP6:[${address}]` : `TCP:${address}`;
  return socatAnswer(netns, `${target}:${port},connect-timeout=2`, 2, "");
}

/** Sends one UDP datagram from a namespace and returns the reply (or ""). */
export function udpAnswer(netns: string, address: string, port: number): string {
  const target = address.includes(":") ? `UDP6:[${address}]` : `UDP:${address}`;
  return socatAnswer(netns, `${target}:${port}`, 1, "ping\n");
}

export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | null> | T | null,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const value = await probe();
      last = null;
      if (value !== null && value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs a short wasmplane command to completion and returns its stdout. */
export function runWasmplane(args: string[]): string {
  return execFileSync(process.execPath, [...runner, main, ...args], {
    encoding: "utf8",
    cwd: root,
    timeout: 30_000,
  });
}

/**
 * The sandbox an agent test runs in: node n1 (10.250.0.1), a client (10.250.0.2) and pods pod1
 * (10.244.1.2) and pod2 (10.244.1.3) serving TCP 8080; every namespace a unique name after `tag`.
 */
export function agentTestPlan(tag: string): SandboxPlan {
  const pod = (i: number) => ({
    name: `pod${i}`,
    netns: uniqueNetnsName(tag),
    address: `10.244.1.${i + 1}`,
    hostVeth: `wpt-p${i}`,
    tcpPorts: [8080],
    udpPorts: [],
  });
  return {
    prefix: `wpt-${tag}`,
    nodeNetns: uniqueNetnsName(tag),
    clientNetns: uniqueNetnsName(tag),
    nodeName: "n1",
    nodeIP: "10.250.0.1",
    clientIP: "10.250.0.2",
    podGateway: "169.254.1.1",
    clusterCIDR: "10.244.0.0/16",
    podCIDR: "10.244.1.0/24",
    serviceCIDR: "10.96.0.0/16",
    pods: [pod(1), pod(2)],
    services: [],
  };
}

/**
 * The `wasmplane agent` command line for `plan`'s node: `source` (e.g. `--manifests DIR`), the
 * node's addresses and CIDRs, 100 ms minimum sync interval, status on `socket`, then `extra`.
 * `--node-name n1` is passed only with `nodeName`.
 */
export function agentArgs(
  plan: SandboxPlan,
  socket: string,
  source: string[],
  options: { nodeName?: boolean; extra?: string[] } = {},
): string[] {
  return [
    "agent",
    ...source,
    "--netns",
    plan.nodeNetns,
    ...(options.nodeName ? ["--node-name", plan.nodeName] : []),
    "--node-ip",
    plan.nodeIP,
    "--cluster-cidr",
    plan.clusterCIDR,
    "--service-cidr",
    plan.serviceCIDR,
    "--min-sync-interval",
    "100ms",
    "--status-address",
    socket,
    ...(options.extra ?? []),
  ];
}

/** Resolves with the status of the agent's first successful sync; a timeout error carries its output. */
export function firstSync(socket: string, agent: Child): Promise<AgentStatus> {
  return waitUntil("the first sync", async () => {
    const s = await fetchStatus(socket);
    return s.lastSync?.ok ? s : null;
  }).catch((err: Error) => {
    throw new Error(`${err.message}\n${agent.output()}`);
  });
}

/** Kills the agent (if still running), stops the echo servers and deletes every namespace of `plan`. */
export async function stopSandbox(
  agent: Child | null,
  servers: EchoServer[],
  plan: SandboxPlan,
): Promise<void> {
  try {
    await agent?.stop("SIGKILL");
    for (const s of servers) stopEchoServer(s);
  } finally {
    for (const ns of namespacesOf(plan)) deleteNetns(ns);
  }
}
