import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  CniError,
  checkConfigVersion,
  checkInterfaceName,
  ErrorCode,
  renderResult,
  versionResult,
} from "../../runtime/cni/spec.ts";

const test = suite("cni spec");

function codeOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (err) {
    assert.instance(err, CniError);
    return (err as CniError).code;
  }
  return undefined;
}

test("interface names follow the spec's rules", () => {
  checkInterfaceName("eth0");
  checkInterfaceName("net1.100");
  for (const bad of ["a234567890123456", ".", "..", "a/b", "a:b", "a b", 'a"b'])
    assert.is(
      codeOf(() => checkInterfaceName(bad)),
      ErrorCode.invalidEnvironment,
      bad,
    );
});

test("config versions: 0.4.0, 1.0.0, 1.1.0 accepted; STATUS and GC need 1.1.0", () => {
  for (const v of ["0.4.0", "1.0.0", "1.1.0"]) assert.is(checkConfigVersion("ADD", { cniVersion: v }), v);
  assert.is(
    codeOf(() => checkConfigVersion("ADD", { cniVersion: "0.3.1" })),
    ErrorCode.incompatibleVersion,
  );
  assert.is(
    codeOf(() => checkConfigVersion("ADD", {})),
    ErrorCode.invalidConfig,
  );
  assert.is(
    codeOf(() => checkConfigVersion("GC", { cniVersion: "1.0.0" })),
    ErrorCode.incompatibleVersion,
  );
  assert.is(
    codeOf(() => checkConfigVersion("STATUS", { cniVersion: "0.4.0" })),
    ErrorCode.incompatibleVersion,
  );
  checkConfigVersion("GC", { cniVersion: "1.1.0" });
});

test("VERSION results", () => {
  assert.equal(versionResult("1.0.0"), {
    cniVersion: "1.0.0",
    supportedVersions: ["0.4.0", "1.0.0", "1.1.0"],
  });
  assert.is(versionResult("9.9.9").cniVersion, "1.1.0");
});

test("results are rendered per version: 0.4.0 names IP versions, only 1.1.0 carries interface MTU", () => {
  const result = {
    interfaces: [{ name: "eth0", mac: "0a:58:0a:00:00:05", mtu: 1400, sandbox: "/run/netns/x" }],
    ips: [
      { address: "10.0.0.5/32", gateway: "169.254.1.1", interface: 0 },
      { address: "fd00::5/128", gateway: "fe80::1", interface: 0 },
    ],
    routes: [{ dst: "0.0.0.0/0", gw: "169.254.1.1" }],
    dns: {},
  };
  const old = renderResult("0.4.0", result) as { ips: { version: string }[]; interfaces: { mtu?: number }[] };
  assert.equal(
    old.ips.map((i) => i.version),
    ["4", "6"],
  );
  assert.is(old.interfaces[0].mtu, undefined);
  const v1 = renderResult("1.0.0", result) as { ips: { version?: string }[]; interfaces: { mtu?: number }[] };
  assert.is(v1.ips[0].version, undefined);
  assert.is(v1.interfaces[0].mtu, undefined);
  const v11 = renderResult("1.1.0", result) as { interfaces: { mtu?: number }[] };
  assert.is(v11.interfaces[0].mtu, 1400);
});

test.run();
