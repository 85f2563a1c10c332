// Readiness probes: etcd's /health over plain HTTP, kube-apiserver's /readyz over TLS with the
// admin client certificate.
import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Pki } from "./pki.ts";

export interface Answer {
  status: number;
  body: string;
}

export function get(url: string, tls?: Pick<Pki, "caCert" | "adminCert" | "adminKey">): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const options = tls
      ? { ca: readFileSync(tls.caCert), cert: readFileSync(tls.adminCert), key: readFileSync(tls.adminKey) }
      : {};
    const req = (tls ? httpsRequest : httpRequest)(url, { ...options, timeout: 5000 }, (res) => {
      let body = "";
      res.on("data", (b: Buffer) => {
        body += b.toString();
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`${url}: no answer within 5s`)));
    req.on("error", reject);
    req.end();
  });
}

/**
 * Polls `probe` until it returns true, failing after `timeoutMs` or as soon as `gone()` says the
 * process died; the error carries the last probe failure and `context()` (e.g. a log tail).
 */
export async function waitReady(
  what: string,
  probe: () => Promise<boolean>,
  options: { timeoutMs: number; gone: () => boolean; context: () => string },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let last = "";
  for (;;) {
    try {
      if (await probe()) return;
      last = "not ready yet";
    } catch (err) {
      last = (err as Error).message;
    }
    if (options.gone()) throw new Error(`${what} exited during start-up (${last})\n${options.context()}`);
    if (Date.now() > deadline)
      throw new Error(`${what} not ready after ${options.timeoutMs / 1000}s (${last})\n${options.context()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
