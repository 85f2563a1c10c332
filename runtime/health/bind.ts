// Binds an HTTP server to host:port in the agent's own network namespace or in a named one. A
// process cannot open a socket in another namespace, but a socket keeps the namespace it was made in:
// for a named namespace a short-lived helper (`nsenter --net=/run/netns/NS node -e …`) opens the listening
// socket there and hands it to the agent over the IPC channel (SCM_RIGHTS), then exits. The agent
// serves on that socket itself, so answers always reflect its current state; nothing relays.

import { spawn } from "node:child_process";
import type { Server as HttpServer } from "node:http";
import type { Server as NetServer } from "node:net";
import { inNetns, namedNetnsPath } from "../../nft/netns.ts";

/** Makes `server` listen on host:port; rejects with the bind error (EADDRINUSE, EADDRNOTAVAIL…). */
export type Bind = (server: HttpServer, host: string, port: number) => Promise<void>;

const helperTimeoutMs = 10_000;

// Runs inside the namespace: listen, send the socket to the parent, exit once it is sent.
const helperSource = `
const net = require("node:net");
const [host, port] = process.argv.slice(1);
const server = net.createServer();
server.on("error", (err) => process.send({ error: err.message }, () => process.exit(0)));
server.listen({ host, port: Number(port), exclusive: true }, () => {
  process.send({ port: server.address().port }, server, () => { server.close(); process.disconnect(); });
});`;

function listenOn(server: HttpServer, target: { host: string; port: number } | NetServer): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once("error", onError);
    const done = () => {
      server.off("error", onError);
      resolve();
    };
    if ("listen" in target) server.listen(target, done);
    else server.listen({ host: target.host, port: target.port, exclusive: true }, done);
  });
}

/** Binds in the agent's own namespace. */
export const bindHere: Bind = (server, host, port) => listenOn(server, { host, port });

/** Binds in the named network namespace through the helper process. */
export function bindInNetns(netns: string): Bind {
  return async (server, host, port) => {
    // The received server and ours share one socket handle: closing ours closes it.
    await listenOn(server, await socketFromNetns(netns, host, port));
  };
}

function socketFromNetns(netns: string, host: string, port: number): Promise<NetServer> {
  const where = `${host}:${port} in netns ${netns}`;
  return new Promise((resolve, reject) => {
    const [cmd, args] = inNetns(namedNetnsPath(netns), process.execPath, [
      "-e",
      helperSource,
      host,
      String(port),
    ]);
    const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe", "ipc"] });
    let stderr = "";
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      settle(() =>
        reject(new Error(`listen on ${where}: the helper did not answer within ${helperTimeoutMs} ms`)),
      );
    }, helperTimeoutMs);
    child.stderr?.on("data", (b: Buffer) => {
      stderr += b.toString();
    });
    child.on("message", (message: { error?: string }, handle?: NetServer) => {
      if (handle) settle(() => resolve(handle));
      else settle(() => reject(new Error(`listen on ${where}: ${message.error ?? "no socket received"}`)));
    });
    child.on("error", (err) => settle(() => reject(new Error(`listen on ${where}: ${err.message}`))));
    // "close", not "exit": it comes after the IPC channel is drained, so a socket already sent is never lost.
    child.on("close", (code) =>
      settle(() =>
        reject(new Error(`listen on ${where}: helper exited with ${code}: ${stderr.trim() || "no output"}`)),
      ),
    );
  });
}

export function binderFor(netns?: string): Bind {
  return netns ? bindInNetns(netns) : bindHere;
}
