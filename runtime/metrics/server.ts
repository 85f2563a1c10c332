// Serves /metrics (Prometheus text format) on --metrics-bind-address. A bind failure is logged and
// the agent runs on without metrics: a port taken must not stop the dataplane.
import { createServer } from "node:http";
import type { Registry } from "prom-client";
import { formatBindAddress, parseBindAddress } from "../health/address.ts";
import { type Bind, binderFor } from "../health/bind.ts";

export interface MetricsServer {
  /** "host:port" actually bound (port 0 resolved). */
  readonly address: string;
  close(): Promise<void>;
}

export async function startMetricsServer(
  bindAddress: string,
  registry: Registry,
  options: { netns?: string; bind?: Bind; log: (line: string) => void },
): Promise<MetricsServer | null> {
  const address = parseBindAddress(bindAddress, "--metrics-bind-address");
  if (!address) return null;
  const server = createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (req.method !== "GET" || path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: only GET /metrics\n");
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
      (err: Error) => res.writeHead(500, { "content-type": "text/plain" }).end(`${err.message}\n`),
    );
  });
  try {
    await (options.bind ?? binderFor(options.netns))(server, address.host, address.port);
  } catch (err) {
    options.log(`warning: metrics: cannot listen on ${bindAddress}: ${(err as Error).message}; no /metrics`);
    return null;
  }
  const bound = server.address();
  const port = typeof bound === "object" && bound ? bound.port : address.port;
  const where = formatBindAddress({ host: address.host, port });
  options.log(`metrics on http://${where}/metrics${options.netns ? ` (in netns ${options.netns})` : ""}`);
  return {
    address: where,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
