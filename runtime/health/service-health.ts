// The healthCheckNodePort servers: one HTTP server per service and node IP, opened and closed as
// Services come and go. `update` is called after each successful sync with its snapshot; it never
// waits for anything itself: the servers are reconciled in order on a private queue, and answers read
// the latest counts. A port that cannot be bound is logged once and tried again after the next sync.
import { createServer, type Server } from "node:http";
import type { Snapshot } from "../store/objects.ts";
import { formatBindAddress } from "./address.ts";
import type { Bind } from "./bind.ts";
import { type HealthCheckPort, planHealthCheckPorts, serviceHealthAnswer } from "./service-health-plan.ts";

export interface ServiceHealthOptions {
  nodeName: string;
  /** Addresses to listen on; empty: 0.0.0.0. */
  nodeIPs: string[];
  bind: Bind;
  /** The proxier's health (a 503 for every service while syncs do not keep up, as kube-proxy). */
  proxyHealthy: () => boolean;
  log: (line: string) => void;
}

interface Open {
  port: number;
  servers: Server[];
}

export class ServiceHealthServers {
  private wanted = new Map<string, HealthCheckPort>();
  private readonly open = new Map<string, Open>();
  /** Failures already logged, by "key port": logged once until they succeed or go away. */
  private readonly failed = new Map<string, string>();
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: ServiceHealthOptions) {}

  /** Takes the services of a synced snapshot; the servers follow asynchronously. */
  update(snapshot: Snapshot): void {
    this.wanted = planHealthCheckPorts(snapshot, this.options.nodeName);
    this.queue = this.queue.then(() => this.reconcile());
  }

  /** Resolves when every update so far has been carried out (tests). */
  settled(): Promise<void> {
    return this.queue;
  }

  /** The ports currently served, by service key. */
  ports(): Map<string, number> {
    return new Map([...this.open].map(([key, o]) => [key, o.port]));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    await Promise.all([...this.open.values()].map((o) => closeAll(o.servers)));
    this.open.clear();
  }

  private async reconcile(): Promise<void> {
    if (this.closed) return;
    const wanted = this.wanted;
    for (const [key, open] of [...this.open]) {
      if (wanted.get(key)?.port === open.port) continue;
      this.open.delete(key);
      await closeAll(open.servers);
      this.options.log(`service health check ${key} closed (port ${open.port})`);
    }
    for (const key of [...this.failed.keys()]) if (!wanted.has(key.split(" ")[0])) this.failed.delete(key);
    for (const [key, check] of wanted) {
      if (this.open.has(key) || this.closed) continue;
      await this.openServers(key, check.port);
    }
  }

  private async openServers(key: string, port: number): Promise<void> {
    const hosts = this.options.nodeIPs.length > 0 ? this.options.nodeIPs : ["0.0.0.0"];
    const servers: Server[] = [];
    try {
      for (const host of hosts) {
        const server = createServer((_req, res) => {
          const check = this.wanted.get(key) ?? { ...splitKey(key), localEndpoints: 0 };
          const answer = serviceHealthAnswer(check, this.options.proxyHealthy());
          res
            .writeHead(answer.status, {
              "content-type": "application/json",
              "x-content-type-options": "nosniff",
            })
            .end(`${JSON.stringify(answer.body)}\n`);
        });
        servers.push(server);
        await this.options.bind(server, host, port).catch((err: Error) => {
          throw new Error(`${formatBindAddress({ host, port })}: ${err.message}`);
        });
      }
    } catch (err) {
      await closeAll(servers);
      const id = `${key} ${port}`;
      const message = (err as Error).message;
      if (this.failed.get(id) !== message)
        this.options.log(
          `problem: service health check ${key} on port ${port}: ${message} (retrying after the next sync)`,
        );
      this.failed.set(id, message);
      return;
    }
    if (this.failed.delete(`${key} ${port}`))
      this.options.log(`resolved: service health check ${key} on port ${port}`);
    this.open.set(key, { port, servers });
    this.options.log(`service health check ${key} listening on port ${port} (${hosts.join(", ")})`);
  }
}

function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf("/");
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

function closeAll(servers: Server[]): Promise<void> {
  return Promise.all(
    servers.map(
      (s) =>
        new Promise<void>((resolve) => {
          if (!s.listening) return resolve();
          s.close(() => resolve());
          s.closeAllConnections();
        }),
    ),
  ).then(() => {});
}
