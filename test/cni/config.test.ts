import { suite } from "uvu";
import * as assert from "uvu/assert";
import { parseCniSection } from "../../runtime/cni/config.ts";

const test = suite("cni config section");

test("a full section parses; an empty one is enabled with defaults", () => {
  assert.equal(parseCniSection({}), { enabled: true });
  assert.equal(
    parseCniSection({
      socket: "/run/x.sock",
      stateDir: "/var/lib/x",
      mtu: 1450,
      ipam: "wasm:random",
      routing: "vxlan",
      vxlan: { vni: 42, port: 8472 },
      reconcilePods: true,
      reconcileIntervalSeconds: 30,
    }),
    {
      enabled: true,
      socket: "/run/x.sock",
      stateDir: "/var/lib/x",
      mtu: 1450,
      ipam: "wasm:random",
      routing: "vxlan",
      vxlan: { vni: 42, port: 8472 },
      reconcilePods: true,
      reconcileIntervalMs: 30_000,
    },
  );
});

test("every bad value names its field", () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ mtu: "big" }, 'cni.mtu: must be an integer 576-65535, got "big"'],
    [
      { ipam: "hashring" },
      'cni.ipam: must be range, wasm:range, wasm:random, wasm:static or wasm:/path.wasm, got "hashring"',
    ],
    [{ routing: "bgp" }, 'cni.routing: must be one of host-gw, vxlan, none, got "bgp"'],
    [{ vxlan: { vni: 0 } }, "cni.vxlan.vni: must be an integer 1-16777215, got 0"],
    [{ sockett: "/x" }, "cni.sockett: unknown option (known: enabled, socket,"],
    [{ enabled: "yes" }, 'cni.enabled: must be true or false, got "yes"'],
    [{ socket: "" }, 'cni.socket: must be a non-empty string, got ""'],
  ];
  for (const [raw, message] of cases)
    assert.throws(
      () => parseCniSection(raw),
      (err: Error) => err.message === message || err.message.startsWith(message),
      message,
    );
});

test.run();
