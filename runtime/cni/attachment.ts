// What one pod attachment looks like in the kernel, as pure plans: the node-side shell script and
// the pod-side `ip -batch` lines. The attachment is routed, not bridged: a veth pair per pod, the
// pod's addresses as /32 and /128, a host route per pod address to its veth, and a fixed
// link-local gateway (169.254.1.1, fe80::1) that the node side of every veth answers for. No L2 is
// shared between pods, so a pod cannot ARP-spoof its neighbours, every pod has its own interface
// for anti-spoofing and policy rules, and no bridge netfilter is involved (see docs/cni.md).
import { createHash } from "node:crypto";
import type { IpamAddress, IpamRoute } from "../ipam/decider.ts";
import { ipFamily, ipToBigInt } from "../net/cidr.ts";
import type { CniResult } from "./spec.ts";

/** The node side of every veth has this MAC, so the pod's gateway neighbour entry is the same for all. */
export const HOST_MAC = "ee:ee:ee:ee:ee:ee";
export const GATEWAY_V4 = "169.254.1.1";
export const GATEWAY_V6 = "fe80::1";
/** Link alias on the node side, so GC can find veths whose allocation is gone. */
export const ALIAS_PREFIX = "wasmplane:";
export const HOST_IF_PREFIX = "wp";

export interface AttachmentSpec {
  containerId: string;
  ifName: string;
  /** Path of the pod's network namespace (CNI_NETNS). */
  podNetns: string;
  mtu: number;
  addresses: IpamAddress[];
  routes: IpamRoute[];
}

/** The node-side interface name: stable per attachment, 13 characters. */
export function hostInterfaceName(containerId: string, ifName: string): string {
  return HOST_IF_PREFIX + createHash("sha256").update(`${containerId}/${ifName}`).digest("hex").slice(0, 11);
}

export function attachmentAlias(containerId: string, ifName: string): string {
  return `${ALIAS_PREFIX}${containerId}/${ifName}`;
}

/** A locally administered MAC for the pod side: 0a:58 and the IPv4 address (as kubenet does), else a hash. */
export function podMac(spec: AttachmentSpec): string {
  const v4 = spec.addresses.find((a) => ipFamily(a.ip) === 4);
  const bytes = v4
    ? [0x0a, 0x58, ...[24n, 16n, 8n, 0n].map((s) => Number((ipToBigInt(v4.ip) >> s) & 0xffn))]
    : [
        0x0a,
        0x58,
        ...createHash("sha256").update(`${spec.containerId}/${spec.ifName}`).digest().subarray(0, 4),
      ];
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}

export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

function gatewayFor(address: IpamAddress): string {
  return address.gateway ?? (ipFamily(address.ip) === 4 ? GATEWAY_V4 : GATEWAY_V6);
}

export interface HostSetupOptions {
  /** The attachment may have a leftover veth from an interrupted ADD: remove it first. */
  removeLeftover: boolean;
  /** The node's namespace has IPv6 disabled on new interfaces: enable it on the veth before addressing it. */
  ipv6DisabledByDefault?: boolean;
}

function heredoc(command: string, lines: string[]): string {
  return `${command} <<'WASMPLANE_EOF'\n${lines.join("\n")}\nWASMPLANE_EOF`;
}

/**
 * The whole attachment as one POSIX sh script run in the node's namespace: one `ip -batch` there
 * creates the pair (the pod end directly in the pod namespace), addresses the node end and adds the
 * host routes and static neighbour entries; the proxy_arp sysctl is a shell builtin write; one
 * `ip -batch` inside the pod namespace configures the pod end. Three processes per ADD in all.
 */
export function planAttachmentScript(spec: AttachmentSpec, options: HostSetupOptions): string {
  const host = hostInterfaceName(spec.containerId, spec.ifName);
  const v4 = spec.addresses.filter((a) => ipFamily(a.ip) === 4);
  const v6 = spec.addresses.filter((a) => ipFamily(a.ip) === 6);
  const mac = podMac(spec);
  const lines = ["set -e"];
  if (options.removeLeftover)
    lines.push(`if [ -e /proc/sys/net/ipv4/conf/${host} ]; then ip link del ${host}; fi`);
  const create = [
    `link add ${host} mtu ${spec.mtu} address ${HOST_MAC} type veth peer name ${spec.ifName} mtu ${spec.mtu} address ${mac} netns ${JSON.stringify(spec.podNetns)}`,
    `link set ${host} alias ${JSON.stringify(attachmentAlias(spec.containerId, spec.ifName))}`,
    `link set ${host} addrgenmode none`,
    `link set ${host} up`,
  ];
  const address: string[] = [];
  if (v6.length > 0) address.push(`addr add ${GATEWAY_V6}/64 dev ${host} nodad`);
  // Static neighbour entries both ways: no ARP/ND round trip before the first packet, and the
  // node resolves its pods even when it has no address of that family to ask from.
  for (const a of v4) {
    address.push(`route replace ${a.ip}/32 dev ${host} scope link`);
    address.push(`neigh replace ${a.ip} lladdr ${mac} dev ${host} nud permanent`);
  }
  for (const a of v6) {
    address.push(`route replace ${a.ip}/128 dev ${host}`);
    address.push(`neigh replace ${a.ip} lladdr ${mac} dev ${host} nud permanent`);
  }
  const sysctls: string[] = [];
  // proxy_arp: the node end answers ARP for any address the node routes elsewhere (a pod that
  // flushed its static gateway entry still reaches 169.254.1.1).
  if (v4.length > 0) sysctls.push(`printf 1 > /proc/sys/net/ipv4/conf/${host}/proxy_arp`);
  if (v6.length > 0 && options.ipv6DisabledByDefault) {
    sysctls.push(`printf 0 > /proc/sys/net/ipv6/conf/${host}/disable_ipv6`);
    lines.push(heredoc("ip -batch -", create), ...sysctls, heredoc("ip -batch -", address));
  } else {
    lines.push(heredoc("ip -batch -", [...create, ...address]), ...sysctls);
  }
  lines.push(heredoc(`nsenter --net=${shellQuote(spec.podNetns)} ip -batch -`, planPodSetup(spec)));
  return `${lines.join("\n")}\n`;
}

/** `ip -batch` lines run inside the pod namespace: up, addresses, gateway neighbour, routes. */
export function planPodSetup(spec: AttachmentSpec): string[] {
  const dev = spec.ifName;
  const lines = [`link set ${dev} up`];
  const gateways = new Set<string>();
  for (const a of spec.addresses) {
    const family = ipFamily(a.ip);
    const gw = gatewayFor(a);
    lines.push(`addr add ${a.ip}/${a.prefixLength} dev ${dev}${family === 6 ? " nodad" : ""}`);
    if (gateways.has(gw)) continue;
    gateways.add(gw);
    if (family === 4) lines.push(`route replace ${gw}/32 dev ${dev} scope link`);
    lines.push(`neigh replace ${gw} lladdr ${HOST_MAC} dev ${dev} nud permanent`);
  }
  for (const route of spec.routes) {
    const family = ipFamily(route.dst.split("/")[0]);
    const address = spec.addresses.find((a) => ipFamily(a.ip) === family);
    if (!address) continue;
    const gw = route.gw ?? gatewayFor(address);
    lines.push(`route replace ${route.dst} via ${gw} dev ${dev}`);
  }
  return lines;
}

/** Deleting the node end removes the pair, and with it the host routes and neighbour entries. */
export function planHostTeardown(containerId: string, ifName: string): string {
  const host = hostInterfaceName(containerId, ifName);
  const present = `[ -e /proc/sys/net/ipv4/conf/${host} ]`;
  // The kernel removes a veth by itself once its pod end's namespace is gone, possibly between the
  // check and the delete: the teardown succeeded if the device is gone afterwards.
  return `if ${present}; then ip link del ${host} 2>/dev/null || ! ${present}; fi\n`;
}

export function attachmentResult(spec: AttachmentSpec): CniResult {
  return {
    interfaces: [
      { name: hostInterfaceName(spec.containerId, spec.ifName), mac: HOST_MAC },
      { name: spec.ifName, mac: podMac(spec), mtu: spec.mtu, sandbox: spec.podNetns },
    ],
    ips: spec.addresses.map((a) => ({
      address: `${a.ip}/${a.prefixLength}`,
      gateway: gatewayFor(a),
      interface: 1,
    })),
    routes: spec.routes.map((r) => {
      const address = spec.addresses.find((a) => ipFamily(a.ip) === ipFamily(r.dst.split("/")[0]));
      return { dst: r.dst, gw: r.gw ?? (address ? gatewayFor(address) : undefined) };
    }),
    dns: {},
  };
}
