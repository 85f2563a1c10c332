// A small Kubernetes list/watch HTTP server for testing the API source with the real
// @kubernetes/client-node: collection GETs return lists with a resourceVersion; `?watch=true`
// streams newline-delimited watch events after the requested resourceVersion and keeps the
// connection open for later changes.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

interface StoredEvent {
  rv: number;
  type: "ADDED" | "MODIFIED" | "DELETED";
  object: Record<string, unknown>;
}

type Obj = { metadata: { name: string; namespace?: string; [k: string]: unknown }; [k: string]: unknown };

export class FakeApiServer {
  private server: Server | null = null;
  private rv = 100;
  private readonly objects = new Map<string, Map<string, Obj>>();
  private readonly log = new Map<string, StoredEvent[]>();
  private readonly watchers = new Map<string, Set<ServerResponse>>();
  /** Requests seen, e.g. "GET /api/v1/services?watch=true&resourceVersion=101". */
  readonly requests: string[] = [];
  /** The next N list requests answer 500. */
  failLists = 0;

  async start(): Promise<string> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", () => resolve()));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.closeWatches();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  /** Ends every open watch (as an API server does on timeout); clients re-watch. */
  closeWatches(): void {
    for (const set of this.watchers.values()) for (const res of set) res.end();
    this.watchers.clear();
  }

  upsert(path: string, object: Obj): void {
    const coll = this.collection(path);
    const key = `${object.metadata.namespace ?? ""}/${object.metadata.name}`;
    const type = coll.has(key) ? "MODIFIED" : "ADDED";
    const stored = { ...object, metadata: { ...object.metadata, resourceVersion: String(++this.rv) } };
    coll.set(key, stored);
    this.publish(path, { rv: this.rv, type, object: stored });
  }

  remove(path: string, object: Obj): void {
    const coll = this.collection(path);
    const key = `${object.metadata.namespace ?? ""}/${object.metadata.name}`;
    const stored = coll.get(key);
    if (!stored) return;
    coll.delete(key);
    this.publish(path, {
      rv: ++this.rv,
      type: "DELETED",
      object: { ...stored, metadata: { ...stored.metadata, resourceVersion: String(this.rv) } },
    });
  }

  private collection(path: string): Map<string, Obj> {
    let coll = this.objects.get(path);
    if (!coll) {
      coll = new Map();
      this.objects.set(path, coll);
    }
    return coll;
  }

  private publish(path: string, event: StoredEvent): void {
    const events = this.log.get(path) ?? [];
    events.push(event);
    this.log.set(path, events);
    for (const res of this.watchers.get(path) ?? [])
      res.write(`${JSON.stringify({ type: event.type, object: event.object })}\n`);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://x");
    this.requests.push(`${req.method} ${url.pathname}${url.search}`);
    const path = url.pathname;
    if (url.searchParams.get("watch") === "true") {
      const from = Number(url.searchParams.get("resourceVersion") ?? "0");
      res.writeHead(200, { "content-type": "application/json" });
      res.flushHeaders(); // as an API server does: the client's watch starts when headers arrive
      for (const e of this.log.get(path) ?? []) {
        if (e.rv > from) res.write(`${JSON.stringify({ type: e.type, object: e.object })}\n`);
      }
      let set = this.watchers.get(path);
      if (!set) {
        set = new Set();
        this.watchers.set(path, set);
      }
      set.add(res);
      res.on("close", () => set?.delete(res));
      return;
    }
    if (this.failLists > 0) {
      this.failLists--;
      res.writeHead(500, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          kind: "Status",
          status: "Failure",
          message: "etcdserver: request timed out",
          code: 500,
        }),
      );
      return;
    }
    const kind = `${path.split("/").pop()?.replace(/s$/, "") ?? ""}List`;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      JSON.stringify({
        kind,
        apiVersion: path.startsWith("/api/") ? "v1" : path.split("/").slice(2, 4).join("/"),
        metadata: { resourceVersion: String(this.rv) },
        items: [...this.collection(path).values()],
      }),
    );
  }
}
