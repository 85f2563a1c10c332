// Where the status endpoint listens: a unix socket ("unix:/path" or "/path") or a loopback TCP port
// ("127.0.0.1:10259", "[::1]:10259", "localhost:10259"). Status is local-only by design.

export type StatusAddress = { kind: "unix"; path: string } | { kind: "tcp"; host: string; port: number };

export function parseStatusAddress(text: string): StatusAddress {
  if (text.startsWith("unix:")) return { kind: "unix", path: text.slice(5) };
  if (text.startsWith("/")) return { kind: "unix", path: text };
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text);
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (!m || !host || !(port >= 0 && port <= 65535)) {
    throw new Error(`status address: must be unix:/path or 127.0.0.1:PORT, got ${JSON.stringify(text)}`);
  }
  if (!["127.0.0.1", "::1", "localhost"].includes(host)) {
    throw new Error(
      `status address: only loopback addresses (127.0.0.1, ::1, localhost), got ${JSON.stringify(host)}`,
    );
  }
  return { kind: "tcp", host, port };
}
