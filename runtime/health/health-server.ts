// The node-level health endpoint kube-proxy serves on --healthz-bind-address: /healthz and /livez
// (load balancers, the kubelet's liveness probe) and /readyz (the readiness probe). A failed bind (the
// port is taken, by kube-proxy still running for instance) does not stop the agent: like kube-proxy
// it is logged once and retried every few seconds, and logged again when it succeeds.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { type BindAddress, formatBindAddress } from "./address.ts";
import type { Bind } from "./bind.ts";
import { type HealthAnswer, healthzAnswer, readyzAnswer, type SyncTimes } from "./proxier-health.ts";

export interface HealthServerOptions {
  address: BindAddress;
  bind: Bind;
  /** Only for the log line: the namespace `bind` listens in. */
  netns?: string;
  times: () => SyncTimes;
  timeoutMs: number;
  nodeEligible?: () => boolean;
  log: (line: string) => void;
  now?: () => number;
  retryMs?: number;
}

export interface HealthServer {
  /** "host:port" asked for (the bound port once bound, when 0 was asked). */
  address(): string;
  /** Resolves once bound (for tests); never rejects. */
  bound(): Promise<void>;
  close(): Promise<void>;
}

export function answerFor(url: string | undefined, options: HealthServerOptions): HealthAnswer | null {
  const path = (url ?? "/").split("?")[0];
  const now = (options.now ?? Date.now)();
  const times = options.times();
  if (path === "/healthz" || path === "/livez")
    return healthzAnswer(path, times, now, options.timeoutMs, options.nodeEligible?.() ?? true);
  if (path === "/readyz") return readyzAnswer(times, now);
  return null;
}

function respond(req: IncomingMessage, res: ServerResponse, options: HealthServerOptions): void {
  const answer = req.method === "GET" || req.method === "HEAD" ? answerFor(req.url, options) : null;
  if (!answer) {
    res.writeHead(req.method === "GET" || req.method === "HEAD" ? 404 : 405).end();
    return;
  }
  res
    .writeHead(answer.status, { "content-type": "application/json", "x-content-type-options": "nosniff" })
    .end(`${JSON.stringify(answer.body)}\n`);
}

/** "host:port" actually listened on (the real port when 0 was asked). */
function boundAddress(server: Server, fallback: string): string {
  const a = server.address();
  return a && typeof a === "object" ? formatBindAddress({ host: a.address, port: a.port }) : fallback;
}

export function startHealthServer(options: HealthServerOptions): HealthServer {
  const server: Server = createServer((req, res) => respond(req, res, options));
  const where = formatBindAddress(options.address);
  let closed = false;
  let failing: string | null = null;
  let timer: NodeJS.Timeout | undefined;
  let markBound: () => void = () => {};
  const bound = new Promise<void>((resolve) => {
    markBound = resolve;
  });
  const attempt = async (): Promise<void> => {
    try {
      await options.bind(server, options.address.host, options.address.port);
    } catch (err) {
      const message = (err as Error).message;
      if (failing !== message) options.log(`problem: health endpoint ${where}: ${message} (retrying)`);
      failing = message;
      if (!closed) timer = setTimeout(() => void attempt(), options.retryMs ?? 5000);
      return;
    }
    if (closed) {
      server.close();
      return;
    }
    if (failing !== null) options.log(`resolved: health endpoint ${where} is listening`);
    else
      options.log(
        `health endpoint on ${boundAddress(server, where)}${options.netns ? ` in netns ${options.netns}` : ""}: /healthz /livez /readyz`,
      );
    failing = null;
    markBound();
  };
  void attempt();
  return {
    address: () => boundAddress(server, where),
    bound: () => bound,
    close: () =>
      new Promise<void>((resolve) => {
        closed = true;
        clearTimeout(timer);
        if (!server.listening) return resolve();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
