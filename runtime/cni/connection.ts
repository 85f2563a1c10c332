// One connection to the agent's CNI socket: read one JSON line, hand it on, write one JSON line
// back. Two faults are answered here rather than left to the caller's timeout: a request over the
// size limit (the rest of the line is read and dropped, then the reason is sent) and a line that is
// not JSON. The handler learns whether the client hung up before its answer, so a command the
// runtime already saw fail is not carried out.
import type { Socket } from "node:net";
import { type CniWireResponse, MAX_REQUEST_BYTES } from "./protocol.ts";
import { ErrorCode } from "./spec.ts";

/** Answers one parsed request; `clientGone()` is true once the client closed without an answer. */
export type RequestHandler = (request: unknown, clientGone: () => boolean) => Promise<CniWireResponse>;

const TOO_LARGE: CniWireResponse = {
  ok: false,
  error: {
    code: ErrorCode.invalidConfig,
    msg: `request larger than ${MAX_REQUEST_BYTES} bytes: the network configuration is too large`,
  },
};

export function serveConnection(conn: Socket, handle: RequestHandler): void {
  let answered = false;
  let gone = false;
  conn.setEncoding("utf8");
  conn.on("error", () => {});
  conn.on("close", () => {
    if (!answered) gone = true;
  });
  const reply = (response: CniWireResponse) => {
    answered = true;
    conn.end(`${JSON.stringify(response)}\n`);
  };
  readRequestLine(conn, (line) => {
    if (line === null) return reply(TOO_LARGE);
    const parsed = parseRequest(line);
    if ("error" in parsed) return reply(parsed.error);
    handle(parsed.value, () => gone).then(reply);
  });
}

function parseRequest(line: string): { value: unknown } | { error: CniWireResponse } {
  try {
    return { value: JSON.parse(line) };
  } catch (err) {
    return {
      error: {
        ok: false,
        error: { code: ErrorCode.decodeFailure, msg: `request is not JSON: ${(err as Error).message}` },
      },
    };
  }
}

/**
 * Calls `onLine` once with the first line (without its newline), or with null when the line is
 * longer than MAX_REQUEST_BYTES; past the limit the rest of the line is read and dropped first.
 */
function readRequestLine(conn: Socket, onLine: (line: string | null) => void): void {
  let buffer = "";
  let tooLarge = false;
  const onData = (chunk: string) => {
    const nl = chunk.indexOf("\n");
    if (tooLarge || buffer.length + (nl < 0 ? chunk.length : nl) > MAX_REQUEST_BYTES) {
      tooLarge = true;
      buffer = "";
      if (nl < 0) return;
      conn.off("data", onData);
      return onLine(null);
    }
    buffer += chunk;
    if (nl < 0) return;
    conn.off("data", onData);
    onLine(buffer.slice(0, buffer.length - chunk.length + nl));
  };
  conn.on("data", onData);
}
