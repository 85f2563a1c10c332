// A restarted agent reads the table back and continues: every shape the planner writes (all service
// kinds, policies, affinity, both families, every selection mode) must read back equal, so the first
// sync after a restart sends nothing; and a change after that sends only the changed service.
import { execFileSync } from "node:child_process";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { applyTransaction } from "../../nft/apply.ts";
import { tableDifferences } from "../../nft/compare.ts";
import { mergeFragments } from "../../nft/desired.ts";
import { planSync } from "../../nft/diff.ts";
import { readTable } from "../../nft/readback.ts";
import { renderText } from "../../nft/render-text.ts";
import { ServiceProxy } from "../../runtime/services/proxy.ts";
import { kernelTest } from "../support/kernel.ts";
import { withNetns } from "../support/netns.ts";
import { serviceMix, slice, snapshot } from "./fixtures.ts";
import { chainsConfig, lbResults } from "./render.ts";

const test = suite("read-back");

const { services, rr, slices, plans } = serviceMix();

kernelTest(
  test,
  "everything the planner writes reads back equal; a change after a restart is small",
  async () => {
    await withNetns(["svc-rb"], async ([ns]) => {
      const proxy = new ServiceProxy(chainsConfig);
      const snap = snapshot(services, slices);
      const desired = mergeFragments("inet", "wasmplane", [
        proxy.plan(snap, lbResults(proxy, snap, plans)).fragment,
      ]);
      await applyTransaction(planSync(null, desired).tx, { netns: ns });

      // A new process: a fresh planner and the table read back from the kernel.
      const restarted = new ServiceProxy(chainsConfig);
      const again = mergeFragments("inet", "wasmplane", [
        restarted.plan(snap, lbResults(restarted, snap, plans)).fragment,
      ]);
      const back = await readTable("inet", "wasmplane", { netns: ns });
      assert.ok(back);
      assert.equal(tableDifferences(back!, again), []);
      const resync = planSync(back, again);
      assert.is(resync.tx.size, 0, renderText(resync.tx));

      const changed = snapshot(
        services,
        slices.map((s) => (s.serviceName === "rr" ? slice(rr, ["10.1.0.1", "10.1.0.4"]) : s)),
      );
      const next = mergeFragments("inet", "wasmplane", [
        restarted.plan(changed, lbResults(restarted, changed)).fragment,
      ]);
      const step = planSync(back, next);
      const text = renderText(step.tx);
      assert.ok(text.includes("svc-c4-default/rr/tcp/http"), text);
      assert.not.ok(text.includes("default/web"), text);
      await applyTransaction(step.tx, { netns: ns });
      const nft = execFileSync(
        "ip",
        ["netns", "exec", ns, "nft", "list", "chain", "inet", "wasmplane", "svc-c4-default/rr/tcp/http"],
        {
          encoding: "utf8",
        },
      );
      assert.match(nft, "10.1.0.4:8080");
    });
  },
);

test.run();
