// Serves the agent status over HTTP: GET /status (JSON, with the process's pid and version),
// GET / (the status page, which reads /status and /connections), /connections (conntrack counts per
// endpoint address, read only when asked) and /healthz.
import { mkdirSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { dirname } from "node:path";
import { type ConnectionCounts, connectionCounts } from "../status-page/connections.ts";
import { statusPageHtml } from "../status-page/page.ts";
import { packageVersion } from "../status-page/version.ts";
import type { AgentStatus } from "./status.ts";
import { parseStatusAddress } from "./status-address.ts";

export interface StatusServer {
  /** "unix:/path" or "127.0.0.1:port" actually listened on (port 0 resolves to the real port). */
  address: string;
  close(): Promise<void>;
}

export interface StatusServerOptions {
  /** Per-backend connection counts; default: `conntrack -L` in the status's netns. */
  connections?: (netns: string | null, backends: string[]) => Promise<ConnectionCounts>;
}

type Handler = (status: () => AgentStatus, res: ServerResponse) => Promise<void> | void;

function routes(options: StatusServerOptions): Record<string, Handler> {
  const version = packageVersion();
  const page = statusPageHtml();
  const counts = options.connections ?? connectionCounts;
  const full = (status: () => AgentStatus): AgentStatus => ({ ...status(), pid: process.pid, version });
  return {
    "/healthz": (status, res) => {
      const healthy = status().lastSync?.ok ?? false;
      res
        .writeHead(healthy ? 200 : 503, { "content-type": "text/plain" })
        .end(healthy ? "ok\n" : "not synced\n");
    },
    "/status": (status, res) => {
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(`${JSON.stringify(full(status), null, 2)}\n`);
    },
    "/": (_status, res) => {
      res
        .writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" })
        .end(page);
    },
    "/connections": async (status, res) => {
      const st = status();
      const backends = [...new Set(st.services.flatMap((s) => s.endpoints.map((e) => e.address)))];
      const answer = await counts(st.netns, backends);
      res.writeHead(200, { "content-type": "application/json" }).end(`${JSON.stringify(answer)}\n`);
    },
  };
}

export async function startStatusServer(
  address: string,
  status: () => AgentStatus,
  options: StatusServerOptions = {},
): Promise<StatusServer> {
  const where = parseStatusAddress(address);
  const handlers = routes(options);
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== "GET") {
      res.writeHead(405).end();
      return;
    }
    const handler = handlers[new URL(req.url ?? "/", "http://status").pathname];
    if (!handler) {
      res.writeHead(404).end();
      return;
    }
    Promise.resolve()
      .then(() => handler(status, res))
      .catch((err: Error) => {
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
        res.end(`${err.message}\n`);
      });
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
