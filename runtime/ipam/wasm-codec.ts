// The `ipam` kind of ABI v1: how one IPAM request and its decision are laid out inside the envelope
// (runtime/plugins/envelope.ts, docs/plugin-abi.md). Numbers little-endian; strings u16 length +
// UTF-8; an address is a family byte (4 or 6) and 16 bytes holding the address as a 128-bit
// big-endian integer (an IPv4 address in the last 4 bytes). Documented in docs/cni.md.
//
// op 1 (allocate), one item per request:
//   str containerId, str ifName, str podNamespace, str podName
//   u8 n, n × { addr network, u8 prefixLength }        the node's pod CIDRs
//   u8 n, n × addr                                      last address handed out, per family
//   u8 n, n × addr                                      requested addresses
//   u32 n, n × { addr, u8 flags }                       current allocations; flags bit 0: held by
//                                                       this same attachment
// answer per item:
//   u8 status: 0 ok, 1 exhausted, 2 requested address unavailable, 3 invalid request
//   status 0: u8 n, n × { addr, u8 prefixLength, u8 hasGateway, [addr gateway] }
//             u8 n, n × { addr dst, u8 dstPrefixLength, u8 hasGateway, [addr gateway] }
//   else:     str message

import { bigIntToIp, type Family, ipFamily, ipToBigInt, parseCidr } from "../net/cidr.ts";
import { type ByteReader, ByteWriter } from "../plugins/envelope.ts";
import type { IpamDecision, IpamInput, IpamRefusal } from "./decider.ts";

export const IPAM_OP_ALLOCATE = 1;
const ADDRESS_BYTES = 17;

/**
 * Address text → its encoding. A decider keeps one from call to call, since the same allocations
 * are sent on every call.
 */
export type AddressCache = Map<string, Uint8Array>;

/** Family byte + 16 address bytes. */
function addressBytes(ip: string, cache: AddressCache | undefined): Uint8Array {
  let bytes = cache?.get(ip);
  if (bytes) return bytes;
  bytes = new Uint8Array(ADDRESS_BYTES);
  const family = ipFamily(ip);
  bytes[0] = family;
  if (family === 4) {
    const parts = ip.split(".");
    for (let i = 0; i < 4; i++) bytes[13 + i] = Number(parts[i]);
  } else {
    let v = ipToBigInt(ip);
    for (let i = 16; i >= 1; i--) {
      bytes[i] = Number(v & 0xffn);
      v >>= 8n;
    }
  }
  if (cache) {
    if (cache.size > 65536) cache.clear();
    cache.set(ip, bytes);
  }
  return bytes;
}

function writeAddress(w: ByteWriter, ip: string, cache?: AddressCache): void {
  w.reserve(ADDRESS_BYTES);
  w.bytes.set(addressBytes(ip, cache), w.length);
  w.length += ADDRESS_BYTES;
}

/** One allocate item; `cache` (kept by the caller between calls) saves re-encoding the same addresses. */
export function encodeIpamRequest(input: IpamInput, cache?: AddressCache): Uint8Array {
  const { request } = input;
  const w = new ByteWriter(256 + input.allocations.length * (ADDRESS_BYTES + 1));
  w.str(request.containerId);
  w.str(request.ifName);
  w.str(request.podNamespace ?? "");
  w.str(request.podName ?? "");
  const cidrs = input.podCIDRs.map(parseCidr);
  w.u8(cidrs.length);
  for (const c of cidrs) {
    writeAddress(w, bigIntToIp(c.base, c.family), cache);
    w.u8(c.prefixLength);
  }
  const last = [input.lastAllocated.v4, input.lastAllocated.v6].filter((x): x is string => !!x);
  w.u8(last.length);
  for (const ip of last) writeAddress(w, ip, cache);
  w.u8(request.requestedIPs.length);
  for (const ip of request.requestedIPs) {
    try {
      writeAddress(w, ip, cache);
    } catch {
      throw new Error(`requested IP '${ip}' is not an IP address`);
    }
  }
  w.u32(input.allocations.length);
  for (const a of input.allocations) {
    writeAddress(w, a.ip, cache);
    w.u8(a.containerId === request.containerId && a.ifName === request.ifName ? 1 : 0);
  }
  return w.bytes.slice(0, w.length);
}

function readAddress(r: ByteReader, what: string): string {
  const family = r.u8(`${what} family`);
  r.need(16, what);
  if (family === 4) {
    const b = r.bytes;
    const ip = `${b[r.pos + 12]}.${b[r.pos + 13]}.${b[r.pos + 14]}.${b[r.pos + 15]}`;
    r.pos += 16;
    return ip;
  }
  if (family !== 6) throw new Error(`${what}: family ${family} is neither 4 nor 6`);
  const hi = r.view.getBigUint64(r.pos, false);
  const lo = r.view.getBigUint64(r.pos + 8, false);
  r.pos += 16;
  return bigIntToIp((hi << 64n) | lo, 6 as Family);
}

const REFUSALS: Record<number, IpamRefusal> = {
  1: "exhausted",
  2: "requested-unavailable",
  3: "invalid-request",
};

export function decodeIpamDecision(r: ByteReader): IpamDecision {
  const status = r.u8("status");
  if (status !== 0) {
    const reason = REFUSALS[status];
    if (!reason) throw new Error(`answer status ${status} is not 0-3`);
    return { ok: false, reason, message: r.str("refusal message") };
  }
  const addresses: { ip: string; prefixLength: number; gateway?: string }[] = [];
  const n = r.u8("address count");
  for (let i = 0; i < n; i++) {
    const ip = readAddress(r, `address ${i}`);
    const prefixLength = r.u8(`address ${i} prefix length`);
    if (prefixLength > (ip.includes(":") ? 128 : 32))
      throw new Error(`address ${i}: prefix length ${prefixLength}`);
    const gateway = r.u8(`address ${i} gateway flag`) ? readAddress(r, `address ${i} gateway`) : undefined;
    addresses.push(gateway ? { ip, prefixLength, gateway } : { ip, prefixLength });
  }
  const routes: { dst: string; gw?: string }[] = [];
  const m = r.u8("route count");
  for (let i = 0; i < m; i++) {
    const dst = readAddress(r, `route ${i}`);
    const len = r.u8(`route ${i} prefix length`);
    const gw = r.u8(`route ${i} gateway flag`) ? readAddress(r, `route ${i} gateway`) : undefined;
    routes.push(gw ? { dst: `${dst}/${len}`, gw } : { dst: `${dst}/${len}` });
  }
  return { ok: true, addresses, routes };
}
