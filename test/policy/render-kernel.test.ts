// The rendered policy in a real kernel: a node namespace with three pod namespaces (a, b, c) on
// routed veths, the node rules with the policy hooks, and hand-written PolicyDecisions applied
// through planSync + applyTransaction. Every check is a real TCP or UDP exchange between the pods;
// probes expected to fail give up after one second, and the probes of one step run concurrently.
import { type ChildProcess, spawn } from "node:child_process";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { type ApplyResult, applyTransaction } from "../../nft/apply.ts";
import { tableDifferences } from "../../nft/compare.ts";
import { type DesiredTable, mergeFragments } from "../../nft/desired.ts";
import { planSync, type SyncPlan } from "../../nft/diff.ts";
import { senderBinary } from "../../nft/netlink/sender.ts";
import { readTable } from "../../nft/readback.ts";
import { planNodeRules } from "../../runtime/cni/node-rules.ts";
import { type RenderedPolicy, renderPolicy } from "../../runtime/policy/render.ts";
import type {
  PodDirectionPolicy,
  PolicyDecision,
  PolicyDirection,
  PolicyRule,
  PortRange,
} from "../../runtime/policy/types.ts";
import { kernelTest } from "../support/kernel.ts";
import { createNetns, deleteNetns, inNetns, uniqueNetnsName, vethLink } from "../support/netns.ts";

const test = suite("policy render (kernel)");

const POD_NAMES = ["a", "b", "c"] as const;
type PodName = (typeof POD_NAMES)[number];
const v4 = (p: PodName) => `10.70.${POD_NAMES.indexOf(p) + 1}.2`;
const v6 = (p: PodName) => `fd70:${POD_NAMES.indexOf(p) + 1}::2`;
const ECHO_PORT = 7000;

// One process per pod: TCP on 80, 81, 8080 answers "NAME:PORT" and closes; UDP on 80, 81 answers
// the same; TCP 7000 echoes lines (a long-lived connection). Dual-stack sockets.
const SERVER = `
import socket, selectors, sys
name = sys.argv[1]
sel = selectors.DefaultSelector()
def listen(kind, port):
    s = socket.socket(socket.AF_INET6, kind)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port))
    if kind == socket.SOCK_STREAM: s.listen(64)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, (kind, port))
for p in (80, 81, 8080, ${ECHO_PORT}): listen(socket.SOCK_STREAM, p)
for p in (80, 81): listen(socket.SOCK_DGRAM, p)
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        kind, port = key.data
        s = key.fileobj
        if kind == socket.SOCK_DGRAM:
            data, addr = s.recvfrom(2048)
            s.sendto(f"{name}:{port}\\n".encode(), addr)
        elif kind == "echo":
            try: data = s.recv(4096)
            except OSError: data = b""
            if data: s.sendall(data)
            else:
                sel.unregister(s); s.close()
        else:
            c, _ = s.accept()
            if port == ${ECHO_PORT}:
                c.setblocking(False)
                sel.register(c, selectors.EVENT_READ, ("echo", port))
            else:
                c.sendall(f"{name}:{port}\\n".encode()); c.close()
`;

function run(args: string[], input?: string): Promise<string> {
  return new Promise((resolve) => {
    const c = spawn("ip", args, { stdio: [input === undefined ? "ignore" : "pipe", "pipe", "ignore"] });
    let out = "";
    c.stdout!.setEncoding("utf8").on("data", (d: string) => {
      out += d;
    });
    c.on("close", () => resolve(out.trim()));
    if (input !== undefined) c.stdin!.end(input);
  });
}

class PolicyNode {
  readonly node = uniqueNetnsName("pol-node");
  readonly pods: Record<PodName, string> = {
    a: uniqueNetnsName("pol-a"),
    b: uniqueNetnsName("pol-b"),
    c: uniqueNetnsName("pol-c"),
  };
  private readonly servers: ChildProcess[] = [];
  private applied: DesiredTable | null = null;
  private rendered: RenderedPolicy | undefined;

  setUp(): Promise<void> {
    createNetns(this.node);
    inNetns(this.node, [
      "sysctl",
      "-qw",
      "net.ipv4.ip_forward=1",
      "net.ipv6.conf.all.forwarding=1",
      "net.ipv6.conf.default.accept_dad=0",
    ]);
    POD_NAMES.forEach((p, i) => {
      createNetns(this.pods[p]);
      // Link-local addresses usable at once: neighbour discovery must not wait for DAD.
      inNetns(this.pods[p], ["sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0"]);
      vethLink(this.node, this.pods[p], `wp${p}`, [`10.70.${i + 1}.1`, v4(p)], [`fd70:${i + 1}::1`, v6(p)]);
    });
    return Promise.all(POD_NAMES.map((p) => this.startServer(p))).then(() => {});
  }

  private startServer(p: PodName): Promise<void> {
    const child = spawn("ip", ["netns", "exec", this.pods[p], "timeout", "300", "python3", "-c", SERVER, p], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    this.servers.push(child);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server in pod ${p} did not start`)), 10_000);
      child.stdout!.setEncoding("utf8").once("data", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * Until every pair answers over both families (links coming up, first neighbour resolution: a
   * first SYN lost there is retransmitted after a second, longer than a probe waits). Bounded.
   */
  async warmUp(): Promise<void> {
    const pairs = POD_NAMES.flatMap((from) =>
      POD_NAMES.filter((to) => to !== from).map((to) => [from, to] as const),
    );
    const checks = pairs.flatMap(([from, to]) =>
      [4, 6].map((family) => ({ from, to, family: family as 4 | 6 })),
    );
    for (let round = 0; round < 5; round++) {
      const answers = await Promise.all(checks.map((c) => this.probe(c.from, c.to, "tcp", 80, c.family)));
      if (answers.every((a, i) => a === `${checks[i].to}:80`)) return;
    }
    throw new Error("warm-up: the pods do not reach each other without any policy");
  }

  /** Node rules plus the rendered decision, synced from what was applied last. */
  async sync(decision: PolicyDecision): Promise<SyncPlan & { result: ApplyResult }> {
    const rendered = renderPolicy(decision, this.rendered);
    this.rendered = rendered;
    const nodeRules = planNodeRules({
      attachments: POD_NAMES.map((p) => ({ hostInterface: `wp${p}`, addresses: [v4(p), v6(p)] })),
      podCIDRs: ["10.70.0.0/16", "fd70::/32"],
      masquerade: false,
      hooks: rendered.hooks,
    });
    const desired = mergeFragments("inet", "wasmplane", [nodeRules, rendered.fragment], ["node", "policy"]);
    const plan = planSync(this.applied, desired);
    const result = await applyTransaction(plan.tx, { netns: this.node });
    this.applied = plan.applied;
    return { ...plan, result };
  }

  /** One exchange from `from` to `to`: the answer ("b:80"), or "" when none came within a second. */
  probe(from: PodName, to: PodName, proto: "tcp" | "udp", port: number, family: 4 | 6 = 4): Promise<string> {
    const addr = family === 4 ? v4(to) : `[${v6(to)}]`;
    const target = `${proto.toUpperCase()}${family}:${addr}:${port}`;
    const exec = ["netns", "exec", this.pods[from], "timeout", "3", "socat", "-T1", "-t1", "-"];
    if (proto === "tcp") return run([...exec, `${target},connect-timeout=1`]);
    return run([...exec, target], "x\n");
  }

  /** A long-lived TCP connection to the echo port; `roundTrip` sends a line and waits for it back. */
  connect(from: PodName, to: PodName): { roundTrip: (line: string) => Promise<boolean>; close: () => void } {
    const c = spawn(
      "ip",
      ["netns", "exec", this.pods[from], "timeout", "60", "socat", "-", `TCP4:${v4(to)}:${ECHO_PORT}`],
      {
        stdio: ["pipe", "pipe", "ignore"],
      },
    );
    let received = "";
    c.stdout!.setEncoding("utf8").on("data", (d: string) => {
      received += d;
    });
    const roundTrip = async (line: string) => {
      c.stdin!.write(`${line}\n`);
      for (let i = 0; i < 20; i++) {
        if (received.includes(line)) return true;
        await new Promise((r) => setTimeout(r, 100));
      }
      return false;
    };
    return { roundTrip, close: () => c.kill() };
  }

  /** What the kernel lists, against what was applied: nothing, when read-back normalises right. */
  async readBackDifferences(): Promise<string[]> {
    const back = await readTable("inet", "wasmplane", { netns: this.node });
    assert.ok(back && this.applied, "the table reads back");
    return tableDifferences(this.applied!, back!);
  }

  destroy(): void {
    for (const s of this.servers) s.kill();
    for (const p of POD_NAMES) deleteNetns(this.pods[p]);
    deleteNetns(this.node);
  }
}

// ---- decisions

const tcp = (first: number, last = first): PortRange => ({ protocol: "TCP", first, last });
const udp = (first: number, last = first): PortRange => ({ protocol: "UDP", first, last });

function rule(
  tier: PolicyRule["tier"],
  verdict: PolicyRule["verdict"],
  peers?: string,
  ports: PortRange[] = [],
): PolicyRule {
  return {
    tier,
    verdict,
    origin: `${tier} ${verdict} ${peers ?? "any"}`,
    ports,
    ...(peers ? { peers } : {}),
  };
}

function pod(
  p: PodName,
  direction: PolicyDirection,
  isolated: boolean,
  rules: PolicyRule[],
): PodDirectionPolicy {
  return { pod: `x/${p}`, addresses: [v4(p), v6(p)], direction, isolated, selectedBy: ["test"], rules };
}

function decision(pods: PodDirectionPolicy[], sets: Record<string, PodName[]> = {}): PolicyDecision {
  return {
    pods,
    addressSets: new Map(
      Object.entries(sets).map(([id, members]) => [id, members.flatMap((m) => [v4(m), v6(m)])]),
    ),
    addressPortSets: new Map(),
    problems: [],
  };
}

interface Expectation {
  from: PodName;
  to: PodName;
  proto: "tcp" | "udp";
  port: number;
  family?: 4 | 6;
  ok: boolean;
}
const ok = (
  from: PodName,
  to: PodName,
  proto: "tcp" | "udp",
  port: number,
  family: 4 | 6 = 4,
): Expectation => ({
  from,
  to,
  proto,
  port,
  family,
  ok: true,
});
const no = (
  from: PodName,
  to: PodName,
  proto: "tcp" | "udp",
  port: number,
  family: 4 | 6 = 4,
): Expectation => ({
  from,
  to,
  proto,
  port,
  family,
  ok: false,
});

/** Runs every probe at once and reports all mismatches together. */
async function expectTraffic(node: PolicyNode, step: string, expected: Expectation[]): Promise<void> {
  const answers = await Promise.all(expected.map((e) => node.probe(e.from, e.to, e.proto, e.port, e.family)));
  const wrong = expected
    .map((e, i) => ({ e, got: answers[i] }))
    .filter(({ e, got }) => (e.ok ? got !== `${e.to}:${e.port}` : got !== ""))
    .map(
      ({ e, got }) =>
        `${e.from} → ${e.to} ${e.proto}/${e.port} v${e.family ?? 4}: want ${e.ok ? "answer" : "nothing"}, got "${got}"`,
    );
  assert.equal(wrong, [], `${step}:\n  ${wrong.join("\n  ")}`);
}

const onlyElements = (plan: SyncPlan) =>
  plan.tx.ops.every((op) => op.kind === "element") &&
  plan.stats.chainsAdded + plan.stats.chainsChanged + plan.stats.chainsDeleted === 0;

kernelTest(test, "tiers, peers, ports and updates judged on real TCP and UDP traffic", async () => {
  const node = new PolicyNode();
  try {
    await node.setUp();
    await node.sync(decision([]));
    await node.warmUp();
    await expectTraffic(node, "no policy", [
      ok("a", "b", "tcp", 80),
      ok("a", "b", "udp", 80),
      ok("c", "b", "tcp", 80, 6),
    ]);

    await node.sync(decision([pod("b", "ingress", true, [])]));
    await expectTraffic(node, "deny-all ingress on b", [
      no("a", "b", "tcp", 80),
      no("a", "b", "udp", 80),
      no("c", "b", "tcp", 80, 6),
      ok("b", "a", "tcp", 80),
      ok("b", "c", "udp", 81),
    ]);

    const allowA = decision([pod("b", "ingress", true, [rule("networkpolicy", "allow", "from")])], {
      from: ["a"],
    });
    await node.sync(allowA);
    await expectTraffic(node, "b allows ingress from set {a}", [
      ok("a", "b", "tcp", 80),
      ok("a", "b", "udp", 81),
      ok("a", "b", "tcp", 80, 6),
      no("c", "b", "tcp", 80),
      no("c", "b", "tcp", 80, 6),
    ]);

    const toC = await node.sync(
      decision([pod("b", "ingress", true, [rule("networkpolicy", "allow", "from")])], { from: ["c"] }),
    );
    assert.ok(onlyElements(toC), `a set change is element operations only: ${toC.tx.ops.map((o) => o.kind)}`);
    // Pod addresses live in plain hash sets: the change goes out as a small netlink batch.
    if (senderBinary()) assert.is(toC.result.format, "netlink");
    assert.ok(toC.result.bytes < 1024, `${toC.result.bytes} bytes for one address swapped in two sets`);
    await expectTraffic(node, "set element update {a} → {c}", [
      no("a", "b", "tcp", 80),
      ok("c", "b", "tcp", 80),
    ]);

    const ranged = [rule("networkpolicy", "allow", "from", [tcp(8000, 8100), udp(81)])];
    await node.sync(decision([pod("b", "ingress", true, ranged)], { from: ["a", "c"] }));
    await expectTraffic(node, "allow TCP 8000-8100 and UDP 81 only", [
      ok("a", "b", "tcp", 8080),
      ok("c", "b", "tcp", 8080, 6),
      ok("a", "b", "udp", 81),
      no("a", "b", "tcp", 80),
      no("a", "b", "tcp", 81),
      no("c", "b", "udp", 80),
    ]);

    const adminDeny = [rule("admin", "deny", "denied"), rule("networkpolicy", "allow", "from")];
    await node.sync(decision([pod("b", "ingress", true, adminDeny)], { from: ["a", "c"], denied: ["a"] }));
    await expectTraffic(node, "admin deny {a} overrides the NetworkPolicy allow", [
      no("a", "b", "tcp", 80),
      no("a", "b", "udp", 80, 6),
      ok("c", "b", "tcp", 80),
    ]);

    const pass = [
      rule("admin", "pass", "passed"),
      rule("admin", "deny"),
      rule("networkpolicy", "allow", "from"),
    ];
    await node.sync(decision([pod("b", "ingress", true, pass)], { passed: ["a"], from: ["a", "c"] }));
    assert.equal(await node.readBackDifferences(), [], "the kernel holds what was rendered");
    await expectTraffic(node, "admin pass {a} to the NetworkPolicy tier, admin deny the rest", [
      ok("a", "b", "tcp", 80),
      ok("a", "b", "tcp", 81, 6),
      no("c", "b", "tcp", 80),
    ]);

    const baseline = [rule("baseline", "deny", "denied", [tcp(80)]), rule("baseline", "allow")];
    await node.sync(decision([pod("b", "ingress", false, baseline)], { denied: ["c"] }));
    await expectTraffic(node, "baseline deny {c} on TCP 80, b not isolated", [
      ok("a", "b", "tcp", 80),
      ok("c", "b", "tcp", 81),
      no("c", "b", "tcp", 80),
      no("c", "b", "tcp", 80, 6),
    ]);

    const egress = [rule("networkpolicy", "allow", "to")];
    await node.sync(decision([pod("a", "egress", true, egress)], { to: ["c"] }));
    await expectTraffic(node, "a's egress allows {c} only", [
      no("a", "b", "tcp", 80),
      no("a", "b", "udp", 80),
      ok("a", "c", "tcp", 80),
      ok("a", "c", "udp", 80, 6),
      ok("b", "a", "tcp", 80),
    ]);

    // Neighbour discovery from a pod whose egress is denied: replies over IPv6 still leave it.
    await node.sync(decision([pod("b", "egress", true, [])]));
    inNetns(node.pods.b, ["ip", "-6", "neigh", "flush", "all"]);
    await expectTraffic(node, "b's egress denied, replies and ND still leave b", [
      ok("a", "b", "tcp", 80, 6),
      ok("c", "b", "tcp", 81),
      no("b", "a", "tcp", 80),
      no("b", "c", "tcp", 80, 6),
    ]);
  } finally {
    node.destroy();
  }
});

kernelTest(
  test,
  "an established connection survives changes; new connections follow the policy",
  async () => {
    const node = new PolicyNode();
    const echo = [rule("networkpolicy", "allow", "from", [tcp(ECHO_PORT), tcp(80)])];
    try {
      await node.setUp();
      await node.sync(decision([]));
      await node.warmUp();
      await node.sync(decision([pod("b", "ingress", true, echo)], { from: ["a"] }));
      const conn = node.connect("a", "b");
      try {
        assert.ok(await conn.roundTrip("one"), "the allowed connection works");
        const widened = await node.sync(decision([pod("b", "ingress", true, echo)], { from: ["a", "c"] }));
        assert.ok(onlyElements(widened), "widening the peer set touches elements only");
        assert.ok(await conn.roundTrip("two"), "still allowed: the connection lives on");
        await expectTraffic(node, "widened to {a, c}", [ok("c", "b", "tcp", 80), ok("a", "b", "tcp", 80)]);

        // Denied from now on: new connections fail; the established one is not policed again
        // (replies and further packets of a tracked connection pass before any policy lookup).
        await node.sync(decision([pod("b", "ingress", true, echo)], { from: ["c"] }));
        await expectTraffic(node, "a removed from the set", [
          no("a", "b", "tcp", 80),
          ok("c", "b", "tcp", 80),
        ]);
        assert.ok(await conn.roundTrip("three"), "an established connection is not cut by a later deny");
      } finally {
        conn.close();
      }
    } finally {
      node.destroy();
    }
  },
);

test.run();
