// Real traffic for kernel tests: small servers in pod namespaces that answer "NAME SOURCE-ADDRESS"
// over UDP and "NAME SOURCE-ADDRESS LOCAL-ADDRESS" over TCP (the local address tells which of a pod's
// addresses, i.e. which endpoint, was reached), and a client that runs a bounded number of attempts from inside a namespace.
import { type ChildProcess, execFile, spawn } from "node:child_process";

const SERVER = `
const net = require("net"), dgram = require("dgram");
const name = process.argv[1], tcpPort = Number(process.argv[2]), udpPort = Number(process.argv[3]);
const plain = (a) => a.replace(/^::ffff:/, "");
let pending = 2;
const ready = () => { if (--pending === 0) process.stdout.write("ready\\n"); };
net.createServer((s) => { s.on("error", () => {}); s.end(name + " " + plain(s.remoteAddress) + " " + plain(s.localAddress) + "\\n"); })
  .listen({ port: tcpPort, host: "::", ipv6Only: false }, ready);
const u = dgram.createSocket({ type: "udp6", ipv6Only: false });
u.on("message", (m, r) => u.send(name + " " + plain(r.address), r.port, r.address));
u.bind(udpPort, "::", ready);
setTimeout(() => process.exit(0), 600000).unref();
`;

const CLIENT = `
const net = require("net"), dgram = require("dgram");
const o = JSON.parse(process.argv[1]);
const results = [];
function tcpOnce(i) {
  const localPort = o.localPorts ? o.localPorts[i % o.localPorts.length] : o.localPort;
  return new Promise((resolve) => {
    let data = "", done = false;
    const finish = (v) => { if (!done) { done = true; s.destroy(); resolve(v); } };
    const s = net.connect({ host: o.host, port: o.port, ...(localPort ? { localPort } : {}) });
    s.setTimeout(o.timeoutMs, () => finish("ERR timeout"));
    s.on("data", (d) => { data += d; });
    s.on("end", () => finish(data.trim()));
    s.on("error", (e) => finish("ERR " + e.code));
  });
}
function udpOnce(sock) {
  return new Promise((resolve) => {
    const own = !sock;
    const s = sock || dgram.createSocket(o.host.includes(":") ? "udp6" : "udp4");
    const t = setTimeout(() => finish("ERR timeout"), o.timeoutMs);
    function finish(v) { clearTimeout(t); s.removeListener("message", onMsg); if (own) s.close(); resolve(v); }
    function onMsg(m) { finish(m.toString().trim()); }
    s.on("message", onMsg);
    s.on("error", (e) => finish("ERR " + e.code));
    s.send("hello", o.port, o.host);
  });
}
(async () => {
  let shared;
  if (o.proto === "udp" && o.localPort) {
    shared = dgram.createSocket(o.host.includes(":") ? "udp6" : "udp4");
    await new Promise((r) => shared.bind(o.localPort, r));
  }
  for (let i = 0; i < o.count; i++) results.push(o.proto === "tcp" ? await tcpOnce(i) : await udpOnce(shared));
  if (shared) shared.close();
  process.stdout.write(JSON.stringify(results));
})();
`;

export interface Server {
  stop(): void;
}

/** Starts a server in `netns` answering on TCP `tcpPort` and UDP `udpPort`; resolves once it listens. */
export function startServer(netns: string, name: string, tcpPort: number, udpPort: number): Promise<Server> {
  const child: ChildProcess = spawn(
    "ip",
    ["netns", "exec", netns, "node", "-e", SERVER, name, String(tcpPort), String(udpPort)],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const stop = () => {
    if (child.exitCode === null) child.kill("SIGKILL");
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`server ${name} in ${netns} did not start`));
    }, 10_000);
    child.stdout!.on("data", (d: Buffer) => {
      if (d.toString().includes("ready")) {
        clearTimeout(timer);
        resolve({ stop });
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server ${name} in ${netns} exited with ${code}`));
    });
  });
}

export interface ProbeOptions {
  proto: "tcp" | "udp";
  host: string;
  port: number;
  count?: number;
  timeoutMs?: number;
  /** Fixed client port (UDP: one socket for all attempts, so they share one conntrack entry). */
  localPort?: number;
  /** TCP: attempt i connects from port localPorts[i mod length]. */
  localPorts?: number[];
}

/** Runs `count` attempts from `netns`; each result is "NAME SOURCE" or "ERR CODE" ("ERR timeout"). */
export function probe(netns: string, opts: ProbeOptions): Promise<string[]> {
  const o = { count: 1, timeoutMs: 1000, ...opts };
  return new Promise((resolve, reject) => {
    execFile(
      "ip",
      ["netns", "exec", netns, "node", "-e", CLIENT, JSON.stringify(o)],
      { encoding: "utf8", timeout: o.count * o.timeoutMs + 15_000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`probe from ${netns} failed: ${stderr || err.message}`));
        else resolve(JSON.parse(stdout) as string[]);
      },
    );
  });
}

/** The names that answered (first word of each successful result), counted. */
export function answeredBy(results: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) {
    const name = r.startsWith("ERR") ? r : r.split(" ")[0];
    out[name] = (out[name] ?? 0) + 1;
  }
  return out;
}

/** The endpoint address each TCP answer came from ("ERR …" for failures), in order. */
export function endpointsReached(results: string[]): string[] {
  return results.map((r) => (r.startsWith("ERR") ? r : r.split(" ")[2]));
}

/** The source addresses the servers saw. */
export function sourcesSeen(results: string[]): string[] {
  return [...new Set(results.filter((r) => !r.startsWith("ERR")).map((r) => r.split(" ")[1]))].sort();
}
