// Structured logs: json and text formats, level filtering, the level of plain lines, and the agent's
// sync and rejection lines carrying their fields.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  createLogger,
  type LogFormat,
  type LogLevel,
  levelOfLine,
  lineFunction,
} from "../../runtime/log/logger.ts";
import { fakeAgent, fakeKernel, ManualSource, service } from "../support/fake-agent.ts";

const test = suite("logs");

function capture(format: LogFormat, level: LogLevel = "info") {
  const lines: string[] = [];
  const logger = createLogger({ format, level, write: (line) => lines.push(line) });
  return { logger, lines, json: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

test("json: one object a line with time, level, message and fields; the level filters", () => {
  const { logger, lines, json } = capture("json");
  logger.debug("hidden");
  logger.info("sync full: 3 operations", { sync: 4, durationMs: 1.5 });
  logger.child({ sync: 5 }).warn("slow");
  assert.is(lines.length, 2);
  assert.ok(lines.every((l) => l.endsWith("\n")));
  const [info, warn] = json();
  assert.is(info?.level, "info");
  assert.is(info?.msg, "sync full: 3 operations");
  assert.is(info?.sync, 4);
  assert.is(info?.durationMs, 1.5);
  assert.match(String(info?.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal([warn?.level, warn?.sync, warn?.msg], ["warn", 5, "slow"]);
  const quiet = capture("json", "warn");
  quiet.logger.info("no");
  quiet.logger.error("yes");
  assert.equal(
    quiet.json().map((r) => r.msg),
    ["yes"],
  );
  const loud = capture("json", "debug");
  loud.logger.debug("shown");
  assert.is(loud.json()[0]?.level, "debug");
});

test("text: time and message as before, fields after it, a level word only off info", () => {
  const { logger, lines } = capture("text");
  logger.info("agent started: node n1", { sync: 2, path: "netlink", note: "two words" });
  logger.warn("rejected: Service default/bad: spec.ports[0].port: must be 1-65535, got 70000");
  assert.match(
    lines[0] ?? "",
    /^\d{4}-\d\d-\d\dT[\d:.]+Z agent started: node n1 sync=2 path=netlink note="two words"\n$/,
  );
  assert.match(lines[1] ?? "", /^\S+ WARN rejected: Service default\/bad: spec\.ports\[0\]\.port: must be/);
});

test("plain lines are levelled by their prefix", () => {
  assert.is(levelOfLine("warning: deleting stale UDP conntrack entries: x"), "warn");
  assert.is(levelOfLine("problem: plugin maglev refused: bad"), "warn");
  assert.is(levelOfLine("plugin: warning: slow"), "warn");
  assert.is(levelOfLine("sync failed (will retry, keeping the last good rules): busy"), "error");
  assert.is(levelOfLine("resolved: sync failed before"), "info");
  assert.is(levelOfLine("cni: reconcile released default/a"), "info");
  const { logger, json } = capture("json");
  lineFunction(logger)("warning: x");
  assert.is(json()[0]?.level, "warn");
});

test("the agent: sync lines carry id and duration, the first sync its phases, a rejection its object and field", async () => {
  const { logger, json } = capture("json");
  const { dataplane } = fakeKernel();
  const source = new ManualSource();
  const agent = fakeAgent(source, dataplane, { log: undefined, logger });
  await agent.start();
  source.send([service("good", 80), service("bad", 70000)]);
  const first = agent.nextSync();
  source.sink?.synced();
  await first;
  const second = agent.nextSync();
  source.send([{ ...service("good", 81), type: "update" }]);
  await second;
  await agent.stop();
  const records = json();
  const syncs = records.filter((r) => /^sync (full|partial):/.test(String(r.msg)));
  assert.equal(
    syncs.map((r) => [r.sync, r.full, typeof r.durationMs]),
    [
      [1, true, "number"],
      [2, false, "number"],
    ],
  );
  const phases = records.filter((r) => r.phase !== undefined);
  assert.equal(
    phases.map((r) => r.phase),
    ["kernel table read back", "objects loaded", "planned", "transaction built", "applied"],
    "the first sync logs its phases at info; the second's are debug",
  );
  assert.ok(phases.every((r) => r.sync === 1 && typeof r.phaseMs === "number"));
  assert.is(phases[1]?.services, 1);
  const rejected = records.find((r) => String(r.msg).startsWith("rejected: Service default/bad"));
  assert.ok(rejected, "no rejected line");
  assert.equal(
    [rejected.level, rejected.kind, rejected.namespace, rejected.name, rejected.field],
    ["warn", "Service", "default", "bad", "spec.ports[0].port"],
  );
});

test.run();
