// Serves the agent status as JSON over HTTP: GET /status (and /healthz).
import { mkdirSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { dirname } from "node:path";
import type { AgentStatus } from "./status.ts";
import { parseStatusAddress } from "./status-address.ts";

export interface StatusServer {
  /** "unix:/path" or "127.0.0.1:port" actually listened on (port 0 resolves to the real port). */
  address: string;
  close(): Promise<void>;
}

export async function startStatusServer(address: string, status: () => AgentStatus): Promise<StatusServer> {
  const where = parseStatusAddress(address);
  const server: Server = createServer((req, res) => {
    if (req.method !== "GET") {
      res.writeHead(405).end();
      return;
    }
    if (req.url === "/healthz") {
      const st = status();
      const healthy = st.lastSync?.ok ?? false;
      res
        .writeHead(healthy ? 200 : 503, { "content-type": "text/plain" })
        .end(healthy ? "ok\n" : "not synced\n");
      return;
    }
    if (req.url === "/status" || req.url === "/") {
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(`${JSON.stringify(status(), null, 2)}\n`);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    if (where.kind === "unix") {
      mkdirSync(dirname(where.path), { recursive: true });
      // A socket left by an agent that was killed; a live agent on it would be a configuration error
      // we cannot detect cheaply, and the newest agent is the one the operator wants to ask.
      rmSync(where.path, { force: true });
      server.listen(where.path, () => resolve());
    } else server.listen(where.port, where.host, () => resolve());
  });
  const bound = server.address();
  const actual =
    where.kind === "unix"
      ? `unix:${where.path}`
      : `${where.host.includes(":") ? `[${where.host}]` : where.host}:${typeof bound === "object" && bound ? bound.port : where.port}`;
  return {
    address: actual,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          if (where.kind === "unix") rmSync(where.path, { force: true });
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}

/** Fetches the status from a running agent. */
export async function fetchStatus(address: string, timeoutMs = 5000): Promise<AgentStatus> {
  const where = parseStatusAddress(address);
  const { request } = await import("node:http");
  return new Promise((resolve, reject) => {
    const req = request(
      where.kind === "unix"
        ? { socketPath: where.path, path: "/status", timeout: timeoutMs, agent: false }
        : { host: where.host, port: where.port, path: "/status", timeout: timeoutMs, agent: false },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => {
          body += chunk;
        });
        res.on("end", () => {
          try {
            resolve(JSON.parse(body) as AgentStatus);
          } catch (err) {
            reject(new Error(`status from ${address}: invalid answer: ${(err as Error).message}`));
          }
        });
      },
    );
    req.on("timeout", () =>
      req.destroy(new Error(`status from ${address}: no answer within ${timeoutMs}ms`)),
    );
    req.on("error", (err: NodeJS.ErrnoException) =>
      reject(
        err.code === "ENOENT" || err.code === "ECONNREFUSED"
          ? new Error(
              `no agent answering on ${address} (is \`wasmplane agent\` running with this --status-address?)`,
            )
          : err,
      ),
    );
    req.end();
  });
}
