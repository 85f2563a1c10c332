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

/**
 * The largest request line the agent reads. A network configuration list is a few KiB; 1 MiB is far
 * above any real one and keeps a runaway client from growing the agent's memory.
 */
export const MAX_REQUEST_BYTES = 1 << 20;
