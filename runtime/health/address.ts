// The health endpoint's bind address, kube-proxy style: "IP:port" or "[IPv6]:port"; "" disables it.
import { parseIP } from "../store/ip.ts";

export const defaultHealthzBindAddress = "0.0.0.0:10256";

export interface BindAddress {
  host: string;
  port: number;
}

/** Parses "0.0.0.0:10256", "127.0.0.1:0" or "[::1]:10256"; null for "" (disabled). Throws naming `where`. */
export function parseBindAddress(text: string, where: string): BindAddress | null {
  if (text === "") return null;
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (!match || !host || !parseIP(host) || port > 65535)
    throw new Error(
      `${where}: must be IP:port such as 0.0.0.0:10256 or [::]:10256 ("" disables), got ${JSON.stringify(text)}`,
    );
  return { host: parseIP(host)?.text ?? host, port };
}

/** "host:port" with IPv6 hosts in brackets. */
export function formatBindAddress(address: BindAddress): string {
  return address.host.includes(":") ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
