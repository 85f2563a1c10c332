// The behaviour every CNI plugin here must show, as one suite run against wasmplane and against
// Debian's reference plugins (bridge + host-local, portmap chained after both). Where the spec
// leaves a detail to the plugin (an error code outside 1-99), the assertion is only what both do.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { cidrContains, parseCidr } from "../../runtime/net/cidr.ts";
import { kernelTest } from "../support/kernel.ts";
import {
  type ConflistRunner,
  interfaceAddresses,
  interfaceExists,
  invoke,
  TestNode,
  tcpProbe,
} from "./harness.ts";

export interface Flavor {
  name: string;
  v4Cidr: string;
  v6Cidr: string;
  /** Starts whatever the plugin needs on `node`; returns the runtime's view of the network. */
  start(node: TestNode): Promise<{ runner: ConflistRunner; stop(): Promise<void> }>;
  /** Called after a DEL, to check plugin-specific cleanup (e.g. the allocation is released). */
  afterDel?(ips: string[]): void;
}

interface ResultIP {
  address: string;
}

function ipsOf(json: Record<string, unknown> | undefined): string[] {
  return ((json?.ips ?? []) as ResultIP[]).map((i) => i.address.split("/")[0]);
}

export function defineConformanceSuite(flavor: Flavor): void {
  const test = suite(`cni conformance: ${flavor.name}`);
  let env: { node: TestNode; runner: ConflistRunner; stop(): Promise<void> } | undefined;
  let counter = 0;
  const setup = async () => {
    if (env) return env;
    const node = new TestNode();
    try {
      const started = await flavor.start(node);
      env = { node, ...started };
    } catch (err) {
      node.destroy();
      throw err;
    }
    return env;
  };
  const attachment = (
    netns: string,
    extra: { args?: string; runtimeConfig?: Record<string, unknown> } = {},
  ) => ({
    containerId: `${flavor.name.replace(/[^a-z0-9]/g, "")}-${process.pid}-${++counter}`,
    netns,
    ifName: "eth0",
    ...extra,
  });
  const firstPlugin = () => env!.runner.conflist.plugins[0];
  const pluginBin = () => `${env!.runner.binDir}/${String(firstPlugin().type)}`;
  const pluginConfig = (overrides: Record<string, unknown> = {}) => ({
    ...firstPlugin(),
    name: env!.runner.conflist.name,
    cniVersion: env!.runner.conflist.cniVersion,
    ...overrides,
  });

  test.after(async () => {
    if (!env) return;
    await env.stop().catch(() => {});
    env.node.destroy();
    env = undefined;
  });

  kernelTest(
    test,
    "ADD gives two pods IPv4 and IPv6 addresses from the pod CIDRs, and they talk over TCP",
    async () => {
      const { node, runner } = await setup();
      const [podA, pathA] = node.pod();
      const [podB, pathB] = node.pod();
      const attA = attachment(pathA);
      const a = await runner.add(attA);
      assert.is(a.code, 0, a.stdout + a.stderr);
      const b = await runner.add(attachment(pathB));
      assert.is(b.code, 0, b.stdout + b.stderr);
      assert.is(a.json?.cniVersion, "1.0.0");
      const [a4, a6] = [
        ipsOf(a.json).find((ip) => !ip.includes(":"))!,
        ipsOf(a.json).find((ip) => ip.includes(":"))!,
      ];
      const [b4, b6] = [
        ipsOf(b.json).find((ip) => !ip.includes(":"))!,
        ipsOf(b.json).find((ip) => ip.includes(":"))!,
      ];
      assert.ok(cidrContains(parseCidr(flavor.v4Cidr), a4), `${a4} in ${flavor.v4Cidr}`);
      assert.ok(cidrContains(parseCidr(flavor.v6Cidr), a6), `${a6} in ${flavor.v6Cidr}`);
      assert.is.not(a4, b4);
      assert.is.not(a6, b6);
      const interfaces = a.json?.interfaces as { name: string; sandbox?: string }[];
      assert.ok(
        interfaces.some((i) => i.name === "eth0" && i.sandbox === pathA),
        JSON.stringify(interfaces),
      );
      assert.ok(interfaceAddresses(podA, "eth0").includes(a4));
      assert.ok(interfaceAddresses(podA, "eth0").includes(a6));
      assert.is(await tcpProbe(podA, podB, b4, 7001, "v4-ok"), "v4-ok");
      assert.is(await tcpProbe(podB, podA, a6, 7002, "v6-ok"), "v6-ok");
      const check = await runner.check(attA);
      assert.is(check.code, 0, check.stdout + check.stderr);
    },
  );

  kernelTest(test, "a hostPort reaches the pod through chained portmap", async () => {
    const { node, runner } = await setup();
    const [pod, path] = node.pod();
    const res = await runner.add(
      attachment(path, {
        runtimeConfig: { portMappings: [{ hostPort: 30080, containerPort: 8080, protocol: "tcp" }] },
      }),
    );
    assert.is(res.code, 0, res.stdout + res.stderr);
    assert.is(await tcpProbe(node.client, pod, node.nodeIP, 30080, "hostport-ok", 8080), "hostport-ok");
  });

  kernelTest(
    test,
    "DEL removes the pod interface, is idempotent, and succeeds for an unknown container",
    async () => {
      const { node, runner } = await setup();
      const [pod, path] = node.pod();
      const a = attachment(path);
      const res = await runner.add(a);
      assert.is(res.code, 0, res.stdout + res.stderr);
      const cached = runner.cache.get(a.containerId);
      const del = await runner.del(a);
      assert.is(del.code, 0, del.stdout + del.stderr);
      assert.not.ok(interfaceExists(pod, "eth0"));
      flavor.afterDel?.(ipsOf(res.json));
      runner.cache.set(a.containerId, cached!);
      const again = await runner.del(a);
      assert.is(again.code, 0, again.stdout + again.stderr);
      const unknown = await runner.del(attachment(path));
      assert.is(unknown.code, 0, unknown.stdout + unknown.stderr);
      // DEL without CNI_NETNS (the namespace is already gone) succeeds too.
      const noNetns = await invoke({
        bin: pluginBin(),
        command: "DEL",
        containerId: "gone-container",
        ifName: "eth0",
        config: pluginConfig(),
        nodeNetns: node.node,
        cniPath: runner.binDir,
      });
      assert.is(noNetns.code, 0, noNetns.stdout);
    },
  );

  kernelTest(test, "a requested address (CNI_ARGS IP=) is honoured, and refused when taken", async () => {
    const { node, runner } = await setup();
    const base = parseCidr(flavor.v4Cidr).text.split("/")[0].split(".").slice(0, 3).join(".");
    const wanted = `${base}.200`;
    const [, path1] = node.pod();
    const [, path2] = node.pod();
    const first = await runner.add(attachment(path1, { args: `IgnoreUnknown=1;IP=${wanted}` }));
    assert.is(first.code, 0, first.stdout + first.stderr);
    assert.ok(ipsOf(first.json).includes(wanted));
    const second = await runner.add(attachment(path2, { args: `IgnoreUnknown=1;IP=${wanted}` }));
    assert.is.not(second.code, 0);
    assert.match(String(second.json?.msg), wanted);
  });

  kernelTest(
    test,
    "error paths: missing variables, bad JSON, unsupported version, missing namespace, VERSION",
    async () => {
      const { node, runner } = await setup();
      const common = { bin: pluginBin(), nodeNetns: node.node, cniPath: runner.binDir };
      const [, path] = node.pod();
      const missing = await invoke({
        ...common,
        command: "ADD",
        containerId: "x1",
        ifName: "eth0",
        config: pluginConfig(),
      });
      assert.is(missing.code, 1);
      assert.is(missing.json?.code, 4);
      assert.match(String(missing.json?.msg), "CNI_NETNS");
      const badJson = await invoke({
        ...common,
        command: "ADD",
        containerId: "x2",
        netns: path,
        ifName: "eth0",
        config: "{not json",
      });
      assert.is(badJson.json?.code, 6);
      const badVersion = await invoke({
        ...common,
        command: "ADD",
        containerId: "x3",
        netns: path,
        ifName: "eth0",
        config: pluginConfig({ cniVersion: "9.9.9" }),
      });
      assert.is(badVersion.json?.code, 1);
      const noNetns = await invoke({
        ...common,
        command: "ADD",
        containerId: "x4",
        netns: "/run/netns/wpt-cni-does-not-exist",
        ifName: "eth0",
        config: pluginConfig(),
      });
      assert.is.not(noNetns.code, 0);
      assert.type(noNetns.json?.code, "number");
      assert.match(String(noNetns.json?.msg), "wpt-cni-does-not-exist");
      const version = await invoke({ ...common, command: "VERSION", config: { cniVersion: "1.0.0" } });
      assert.is(version.code, 0);
      const supported = version.json?.supportedVersions as string[];
      assert.ok(supported.includes("1.0.0") && supported.includes("0.4.0"), JSON.stringify(supported));
    },
  );

  test.run();
}
