// The wire protocol between the CNI executable and the agent: one JSON line each way per
// connection. The executable sends the invocation unchanged (environment + config); the agent
// answers with what the executable prints and its exit status.
import type { CniEnvironment } from "./spec.ts";

export interface CniWireRequest {
  env: CniEnvironment;
  /** The network configuration from stdin, parsed. */
  config: Record<string, unknown>;
}

export type CniWireResponse =
  /** `output` is printed on stdout (absent for DEL, CHECK, GC, STATUS). */
  | { ok: true; output?: Record<string, unknown> }
  | { ok: false; error: { code: number; msg: string; details?: string } };

/** Reads one newline-terminated JSON message; the socket stays a plain byte stream. */
export function splitLine(buffer: string): { line: string; rest: string } | null {
  const nl = buffer.indexOf("\n");
  if (nl < 0) return null;
  return { line: buffer.slice(0, nl), rest: buffer.slice(nl + 1) };
}
