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
    [{ mtu: "big" }, "cni.mtu: want an integer 576-65535"],
    [{ ipam: "hashring" }, "cni.ipam: want range"],
    [{ routing: "bgp" }, "cni.routing: want host-gw, vxlan or none"],
    [{ vxlan: { vni: 0 } }, "cni.vxlan.vni"],
    [{ sockett: "/x" }, "cni.sockett: unknown field"],
    [{ enabled: "yes" }, "cni.enabled"],
    [{ socket: "" }, "cni.socket: want a non-empty string"],
  ];
  for (const [raw, message] of cases)
    assert.throws(
      () => parseCniSection(raw),
      (err: Error) => err.message.includes(message),
    );
});

test.run();
