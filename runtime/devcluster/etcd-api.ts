// Maintenance through etcd's JSON gateway (/v3/...), so that no etcdctl is needed: the current
// revision, and compaction (which expires older watch resource versions: 410 Gone).
import { request } from "node:http";

function post(url: string, body: unknown): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: "POST", headers: { "content-type": "application/json" }, timeout: 10_000 },
      (res) => {
        let text = "";
        res.on("data", (b: Buffer) => {
          text += b.toString();
        });
        res.on("end", () => {
          if (res.statusCode !== 200)
            return reject(new Error(`${url}: HTTP ${res.statusCode}: ${text.trim()}`));
          try {
            resolve(JSON.parse(text) as Record<string, unknown>);
          } catch {
            reject(new Error(`${url}: not JSON: ${text.slice(0, 200)}`));
          }
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${url}: no answer within 10s`)));
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

/** The store's current revision. */
export async function etcdRevision(etcd: string): Promise<number> {
  const answer = await post(`${etcd}/v3/kv/range`, { key: Buffer.from("/").toString("base64"), limit: 1 });
  const revision = Number((answer.header as { revision?: string } | undefined)?.revision);
  if (!Number.isInteger(revision) || revision <= 0)
    throw new Error(`${etcd}: no revision in ${JSON.stringify(answer)}`);
  return revision;
}

/** Compacts the history up to the current revision and returns it. */
export async function compactEtcd(etcd: string): Promise<number> {
  const revision = await etcdRevision(etcd);
  await post(`${etcd}/v3/kv/compaction`, { revision: String(revision), physical: true });
  return revision;
}
