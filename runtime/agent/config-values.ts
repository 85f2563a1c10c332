// The value types of the agent config (file keys and flags alike): addresses, CIDRs, durations,
// URLs, namespace names. Each normalises what it accepts and names what it expected when it refuses.
import { z } from "zod";
import { list, parsedText } from "../config/schema.ts";
import { parseBindAddress } from "../health/address.ts";
import { parseCIDR, parseIP } from "../store/ip.ts";
import { parseDuration } from "./duration.ts";

/** A comma-separated string is accepted where a list is expected (as kube-proxy's flags do). */
function splitCommas(value: unknown): unknown {
  return typeof value === "string"
    ? value
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean)
    : value;
}

const ip = parsedText("must be an IP address", (value) => parseIP(value)?.text ?? null);

const cidr = parsedText(
  "must be a CIDR such as 10.244.0.0/16",
  (value) => parseCIDR(value.trim())?.text ?? null,
);

export const ipList = z.preprocess(splitCommas, list(ip, "IP addresses"));

export const cidrList = z.preprocess(splitCommas, list(cidr, "CIDRs"));

/** Milliseconds, from "500ms", "1s", "1m30s" or a plain number of seconds. */
export const duration = z.unknown().transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms !== null) return ms;
  ctx.addIssue({
    code: "custom",
    message: `must be a duration such as 500ms, 1s or 2m, got ${JSON.stringify(value)}`,
  });
  return z.NEVER;
});

/** "IP:port" or "[IPv6]:port"; "" disables the endpoint. */
export const bindAddress = parsedText(
  'must be IP:port such as 0.0.0.0:10256 or [::]:10256 ("" disables)',
  (value) => {
    try {
      parseBindAddress(value, "");
      return value;
    } catch {
      return null;
    }
  },
  "must be a string",
);

/** An http(s) URL with a host, as a kubeconfig's `server`; returned without a trailing slash. */
export const apiServerURL = parsedText("must be a URL such as https://192.0.2.10:6443", (value) => {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  if ((url.protocol !== "https:" && url.protocol !== "http:") || !url.hostname) return null;
  return value.replace(/\/+$/, "");
});

/** A name as `ip netns` knows it. */
export const netnsName = parsedText("must be a network namespace name", (value) =>
  /^[A-Za-z0-9_.-]+$/.test(value) ? value : null,
);
