// Free loopback TCP ports, chosen by the kernel (bind port 0) and released for the caller to use.
import { createServer } from "node:net";

function onePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

/** `count` distinct free ports on 127.0.0.1. */
export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  for (let tries = 0; ports.size < count && tries < count * 20; tries++) ports.add(await onePort());
  if (ports.size < count) throw new Error(`could not find ${count} free ports on 127.0.0.1`);
  return [...ports];
}
