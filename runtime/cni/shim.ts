// The CNI executable: a thin client. It validates the invocation, answers VERSION itself, and
// forwards everything else over a unix socket to the agent, which does the work. Bundled into
// one plain JavaScript file by `wasmplane cni install`; only node:net and node:fs are loaded, so
// its start-up cost is that of Node itself.
import { readFileSync } from "node:fs";
import { createConnection } from "node:net";
import { type CniWireRequest, type CniWireResponse, MAX_REQUEST_BYTES } from "./protocol.ts";
import {
  type CniCommand,
  CniError,
  checkConfigVersion,
  DEFAULT_AGENT_SOCKET,
  ErrorCode,
  errorResult,
  readEnvironment,
  versionResult,
} from "./spec.ts";

const DEFAULT_TIMEOUT_SECONDS = 60;

function print(value: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function readStdin(): string {
  try {
    return readFileSync(0, "utf8");
  } catch (err) {
    // An unset stdin (EAGAIN on a tty, EOF) reads as empty.
    if ((err as NodeJS.ErrnoException).code === "EAGAIN" || (err as NodeJS.ErrnoException).code === "EOF")
      return "";
    throw new CniError(
      ErrorCode.ioFailure,
      `reading the network configuration from stdin: ${(err as Error).message}`,
    );
  }
}

function parseConfig(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CniError(
      ErrorCode.decodeFailure,
      `network configuration on stdin is not JSON: ${(err as Error).message}`,
    );
  }
  if (value === null || typeof value !== "object" || Array.isArray(value))
    throw new CniError(ErrorCode.decodeFailure, "network configuration on stdin must be a JSON object");
  return value as Record<string, unknown>;
}

/** What to say when the agent cannot be reached, per command. */
function agentDownError(command: CniCommand, socket: string, reason: string): CniError {
  const msg = `wasmplane agent is not reachable at ${socket} (${reason})`;
  if (command === "STATUS") return new CniError(ErrorCode.notAvailable, msg);
  return new CniError(ErrorCode.tryAgainLater, `${msg}; try again later`);
}

function forward(socket: string, request: CniWireRequest, timeoutMs: number): Promise<CniWireResponse> {
  return new Promise((resolve, reject) => {
    const conn = createConnection(socket);
    let buffer = "";
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      conn.destroy();
      fn();
    };
    const timer = setTimeout(
      () =>
        finish(() => reject(agentDownError(request.env.command, socket, `no answer within ${timeoutMs} ms`))),
      timeoutMs,
    );
    conn.setEncoding("utf8");
    conn.on("connect", () => conn.write(`${JSON.stringify(request)}\n`));
    conn.on("data", (chunk: string) => {
      buffer += chunk;
      const nl = buffer.indexOf("\n");
      if (nl < 0) return;
      const line = buffer.slice(0, nl);
      finish(() => {
        try {
          resolve(JSON.parse(line) as CniWireResponse);
        } catch (err) {
          reject(
            new CniError(
              ErrorCode.decodeFailure,
              `agent answered with invalid JSON: ${(err as Error).message}`,
            ),
          );
        }
      });
    });
    conn.on("error", (err: NodeJS.ErrnoException) =>
      finish(() => reject(agentDownError(request.env.command, socket, err.code ?? err.message))),
    );
    conn.on("close", () =>
      finish(() => reject(agentDownError(request.env.command, socket, "connection closed before an answer"))),
    );
  });
}

/** The cniVersion the configuration asks for, if it can be read at all (errors are answered in it). */
function peekVersion(text: string): string | undefined {
  try {
    const value = JSON.parse(text) as { cniVersion?: unknown };
    return typeof value?.cniVersion === "string" ? value.cniVersion : undefined;
  } catch {
    return undefined;
  }
}

async function main(): Promise<number> {
  let version: string | undefined;
  try {
    // stdin first, so that even an error in the environment is answered in the config's version.
    const text = readStdin();
    version = peekVersion(text);
    const env = readEnvironment(process.env);
    if (env.command === "VERSION") {
      // Some callers send nothing for VERSION; answer with our current version then.
      const requested = text.trim() === "" ? undefined : parseConfig(text).cniVersion;
      print(versionResult(typeof requested === "string" ? requested : undefined));
      return 0;
    }
    const config = parseConfig(text);
    checkConfigVersion(env.command, config);
    const request: CniWireRequest = { env, config };
    const bytes = Buffer.byteLength(JSON.stringify(request));
    if (bytes > MAX_REQUEST_BYTES)
      throw new CniError(
        ErrorCode.invalidConfig,
        `network configuration too large: the request is ${bytes} bytes, the agent reads at most ${MAX_REQUEST_BYTES}`,
      );
    const socket = typeof config.agentSocket === "string" ? config.agentSocket : DEFAULT_AGENT_SOCKET;
    const timeoutSeconds =
      typeof config.timeoutSeconds === "number" && config.timeoutSeconds > 0
        ? config.timeoutSeconds
        : DEFAULT_TIMEOUT_SECONDS;
    const response = await forward(socket, request, timeoutSeconds * 1000);
    if (!response.ok) {
      const { code, msg, details } = response.error;
      print(errorResult(version, new CniError(code, msg, details)));
      return 1;
    }
    if (response.output) print(response.output);
    return 0;
  } catch (err) {
    const cniErr =
      err instanceof CniError
        ? err
        : new CniError(ErrorCode.ioFailure, (err as Error)?.message ?? String(err));
    print(errorResult(version, cniErr));
    return 1;
  }
}

main().then((code) => {
  process.exitCode = code;
});
