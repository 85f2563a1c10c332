import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  attachmentResult,
  HOST_MAC,
  hostInterfaceName,
  planAttachmentScript,
  planHostTeardown,
  planPodSetup,
  podMac,
} from "../../runtime/cni/attachment.ts";

const test = suite("cni attachment plan");

const spec = (addresses: string[]) => ({
  containerId: "abc",
  ifName: "eth0",
  podNetns: "/proc/42/ns/net",
  mtu: 1400,
  addresses: addresses.map((ip) => ({ ip, prefixLength: ip.includes(":") ? 128 : 32 })),
  routes: addresses.map((ip) => ({ dst: ip.includes(":") ? "::/0" : "0.0.0.0/0" })),
});

test("node interface names are stable, 13 characters, per container and interface", () => {
  assert.is(hostInterfaceName("abc", "eth0"), hostInterfaceName("abc", "eth0"));
  assert.is.not(hostInterfaceName("abc", "eth0"), hostInterfaceName("abc", "net1"));
  assert.match(hostInterfaceName("abc", "eth0"), /^wp[0-9a-f]{11}$/);
});

test("dual-stack: one node batch, proxy_arp, the pod batch through nsenter", () => {
  const script = planAttachmentScript(spec(["10.1.0.5", "fd00::5"]), { removeLeftover: false });
  const host = hostInterfaceName("abc", "eth0");
  assert.match(
    script,
    `link add ${host} mtu 1400 address ${HOST_MAC} type veth peer name eth0 mtu 1400 address 0a:58:0a:01:00:05 netns "/proc/42/ns/net"`,
  );
  assert.match(script, `route replace 10.1.0.5/32 dev ${host} scope link`);
  assert.match(script, `neigh replace fd00::5 lladdr 0a:58:0a:01:00:05 dev ${host} nud permanent`);
  assert.match(script, `addr add fe80::1/64 dev ${host} nodad`);
  assert.match(script, `printf 1 > /proc/sys/net/ipv4/conf/${host}/proxy_arp`);
  assert.match(script, "nsenter --net='/proc/42/ns/net' ip -batch -");
  assert.not.match(script, "ip link del");
  assert.is(script.match(/ip -batch -/g)?.length, 2);
});

test("a retry removes the leftover veth first; IPv6 disabled by default splits the node batch", () => {
  const retry = planAttachmentScript(spec(["10.1.0.5"]), { removeLeftover: true });
  assert.match(retry, `then ip link del ${hostInterfaceName("abc", "eth0")}; fi`);
  assert.not.match(retry, "fe80::1/64");
  const split = planAttachmentScript(spec(["fd00::5"]), {
    removeLeftover: false,
    ipv6DisabledByDefault: true,
  });
  assert.match(split, "disable_ipv6");
  assert.is(split.match(/ip -batch -/g)?.length, 3);
  assert.not.match(split, "proxy_arp");
});

test("pod side: addresses, gateway neighbour and routes per family", () => {
  assert.equal(planPodSetup(spec(["10.1.0.5", "fd00::5"])), [
    "link set eth0 up",
    "addr add 10.1.0.5/32 dev eth0",
    "route replace 169.254.1.1/32 dev eth0 scope link",
    `neigh replace 169.254.1.1 lladdr ${HOST_MAC} dev eth0 nud permanent`,
    "addr add fd00::5/128 dev eth0 nodad",
    `neigh replace fe80::1 lladdr ${HOST_MAC} dev eth0 nud permanent`,
    "route replace 0.0.0.0/0 via 169.254.1.1 dev eth0",
    "route replace ::/0 via fe80::1 dev eth0",
  ]);
  assert.match(podMac(spec(["fd00::5"])), /^0a:58:/);
  assert.match(planHostTeardown("abc", "eth0"), "ip link del");
});

test("the result names both ends, the pod's addresses with gateways, and the routes", () => {
  const r = attachmentResult(spec(["10.1.0.5", "fd00::5"]));
  assert.equal(r.ips, [
    { address: "10.1.0.5/32", gateway: "169.254.1.1", interface: 1 },
    { address: "fd00::5/128", gateway: "fe80::1", interface: 1 },
  ]);
  assert.equal(r.interfaces[1], {
    name: "eth0",
    mac: "0a:58:0a:01:00:05",
    mtu: 1400,
    sandbox: "/proc/42/ns/net",
  });
  assert.equal(r.routes, [
    { dst: "0.0.0.0/0", gw: "169.254.1.1" },
    { dst: "::/0", gw: "fe80::1" },
  ]);
});

test.run();
