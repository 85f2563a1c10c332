// The sandbox backends: a tiny dual-stack TCP and UDP server that answers with its own name, run with plain
// `node -e` inside a pod namespace (no tsx startup per pod). TCP: sends "<name>\n" on connect, then
// echoes what it receives. UDP: answers each datagram with "<name>\n".
import { type ChildProcess, spawn } from "node:child_process";
import { inNamedNetns } from "../../nft/netns.ts";

const serverSource = `
const net = require("node:net"), dgram = require("node:dgram");
const [name, tcp, udp] = process.argv.slice(1);
for (const p of tcp.split(",").filter(Boolean)) {
  net.createServer((s) => { s.on("error", () => {}); s.write(name + "\\n"); s.pipe(s); }).listen(Number(p), "::");
}
for (const p of udp.split(",").filter(Boolean)) {
  const u = dgram.createSocket({ type: "udp6", ipv6Only: false });
  u.on("message", (m, r) => u.send(name + "\\n", r.port, r.address));
  u.bind(Number(p), "::");
}
process.on("SIGTERM", () => process.exit(0));
console.log("listening");
`;

export interface EchoServer {
  name: string;
  process: ChildProcess;
}

/** Starts the server in `netns`; resolves once it listens. */
export function startEchoServer(
  netns: string,
  name: string,
  tcpPorts: number[],
  udpPorts: number[],
): Promise<EchoServer> {
  const [cmd, args] = inNamedNetns(netns, process.execPath, [
    "-e",
    serverSource,
    name,
    tcpPorts.join(","),
    udpPorts.join(","),
  ]);
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolve, reject) => {
    let err = "";
    child.stderr?.on("data", (b: Buffer) => {
      err += b.toString();
    });
    child.stdout?.once("data", () => resolve({ name, process: child }));
    child.once("exit", (code) =>
      reject(new Error(`echo server ${name} in ${netns} exited (${code}): ${err.trim()}`)),
    );
  });
}

export function stopEchoServer(server: EchoServer): void {
  if (server.process.exitCode === null) server.process.kill("SIGTERM");
}
