// The parts of the CNI specification (1.1) that both the executable and the agent need: versions,
// error codes, the request validation rules, and the result shapes per version. Kept free of
// imports so the bundled executable stays small.

export const CURRENT_VERSION = "1.1.0";
/** Config versions we accept. 0.4.0 is the oldest with CHECK; STATUS and GC need 1.1.0. */
export const SUPPORTED_VERSIONS = ["0.4.0", "1.0.0", "1.1.0"];

export const DEFAULT_AGENT_SOCKET = "/run/wasmplane/cni.sock";

/** Error codes from the spec (1-99) and ours (100+). */
export const ErrorCode = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnvironment: 4,
  ioFailure: 5,
  decodeFailure: 6,
  invalidConfig: 7,
  tryAgainLater: 11,
  notAvailable: 50,
  limitedConnectivity: 51,
  /** Ours: the node's pod CIDRs have no free address. */
  poolExhausted: 100,
  /** Ours: the requested address is outside the pod CIDRs or belongs to another container. */
  requestedAddressUnavailable: 101,
  /** Ours: CHECK found the attachment different from what ADD made. */
  checkFailed: 102,
  /** Ours: a kernel operation (ip, sysctl) failed. */
  kernelFailure: 103,
} as const;

export class CniError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly details = "",
  ) {
    super(message);
  }
}

export type CniCommand = "ADD" | "DEL" | "CHECK" | "STATUS" | "GC" | "VERSION";

/** The environment variables of one invocation, as the executable sends them (runtime/cni/shim.c). */
export interface CniEnvironment {
  command: CniCommand;
  containerId: string;
  netns: string;
  ifName: string;
  /** CNI_ARGS, parsed: "K=V;K2=V2". */
  args: Record<string, string>;
  path: string;
}

/** Numeric comparison of "a.b.c" versions. */
function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * The fields each command needs, checked by the agent for every request. The C executable checks the
 * same before it connects: its `required_env` (runtime/cni/shim.c) mirrors this table.
 */
export const REQUIRED_ENV: Record<CniCommand, ("containerId" | "netns" | "ifName")[]> = {
  ADD: ["containerId", "netns", "ifName"],
  DEL: ["containerId", "ifName"],
  CHECK: ["containerId", "netns", "ifName"],
  STATUS: [],
  GC: [],
  VERSION: [],
};

export function checkContainerId(id: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(id))
    throw new CniError(
      ErrorCode.invalidEnvironment,
      `CNI_CONTAINERID: '${id}' must start with a letter or digit and contain only letters, digits, '_', '.', '-'`,
    );
}

/** An absolute path without whitespace, quotes or backslashes (it travels through shell and `ip -batch` lines). */
export function checkNetnsPath(path: string): void {
  if (!path.startsWith("/") || /[\s"'\\]/.test(path) || [...path].some((c) => c < " " || c === "\u007f"))
    throw new CniError(
      ErrorCode.invalidEnvironment,
      `CNI_NETNS: '${path}' must be an absolute path without whitespace, quotes or backslashes`,
    );
}

export function checkInterfaceName(name: string): void {
  if (name.length > 15)
    throw new CniError(ErrorCode.invalidEnvironment, `CNI_IFNAME: '${name}' is longer than 15 characters`);
  // The spec forbids "/", ":" and whitespace; quotes, backslashes and control characters are
  // refused too, since the name travels through `ip -batch` lines.
  if (
    name === "." ||
    name === ".." ||
    /[/:\s"'\\]/.test(name) ||
    [...name].some((c) => c < " " || c === "\u007f")
  )
    throw new CniError(ErrorCode.invalidEnvironment, `CNI_IFNAME: '${name}' is not a valid interface name`);
}

/**
 * Checks the network configuration's cniVersion against what the command needs. Returns the
 * version to answer in.
 */
export function checkConfigVersion(command: CniCommand, config: Record<string, unknown>): string {
  const version = config.cniVersion;
  if (typeof version !== "string" || version === "")
    throw new CniError(ErrorCode.invalidConfig, "network configuration: field cniVersion is missing");
  if (!SUPPORTED_VERSIONS.includes(version))
    throw new CniError(
      ErrorCode.incompatibleVersion,
      `network configuration: cniVersion ${version} is not supported (supported: ${SUPPORTED_VERSIONS.join(", ")})`,
    );
  if ((command === "STATUS" || command === "GC") && compareVersions(version, "1.1.0") < 0)
    throw new CniError(ErrorCode.incompatibleVersion, `config version ${version} does not allow ${command}`);
  return version;
}

/** The VERSION answer. */
export function versionResult(requested: string | undefined): Record<string, unknown> {
  return {
    cniVersion: requested && SUPPORTED_VERSIONS.includes(requested) ? requested : CURRENT_VERSION,
    supportedVersions: SUPPORTED_VERSIONS,
  };
}

// ---- results -----------------------------------------------------------------------------------

export interface ResultInterface {
  name: string;
  mac: string;
  mtu?: number;
  /** Path of the network namespace; absent for host-side interfaces. */
  sandbox?: string;
}

export interface ResultIP {
  /** CIDR notation, e.g. "10.244.1.5/32". */
  address: string;
  gateway?: string;
  /** Index into interfaces. */
  interface?: number;
}

export interface ResultRoute {
  dst: string;
  gw?: string;
}

/** A success result in the 1.1.0 shape; rendered for the caller's version by `renderResult`. */
export interface CniResult {
  interfaces: ResultInterface[];
  ips: ResultIP[];
  routes: ResultRoute[];
  dns: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };
}

export function renderResult(version: string, result: CniResult): Record<string, unknown> {
  const interfaces = result.interfaces.map((i) => {
    const out: Record<string, unknown> = { name: i.name, mac: i.mac };
    // 1.1.0 added mtu to interfaces.
    if (i.mtu !== undefined && compareVersions(version, "1.1.0") >= 0) out.mtu = i.mtu;
    if (i.sandbox !== undefined) out.sandbox = i.sandbox;
    return out;
  });
  const ips = result.ips.map((ip) => {
    const out: Record<string, unknown> = {};
    // 0.x results name the IP family per address.
    if (compareVersions(version, "1.0.0") < 0) out.version = ip.address.includes(":") ? "6" : "4";
    out.address = ip.address;
    if (ip.gateway !== undefined) out.gateway = ip.gateway;
    if (ip.interface !== undefined) out.interface = ip.interface;
    return out;
  });
  return { cniVersion: version, interfaces, ips, routes: result.routes, dns: result.dns };
}
