import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { AllocationStore, JOURNAL_NAME } from "../../runtime/ipam/store.ts";

const test = suite("ipam store");

function withDir(body: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "wpt-cni-store-"));
  try {
    body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const alloc = (ip: string, containerId: string) => ({ ip, containerId, ifName: "eth0" });

test("allocations and releases survive a reopen, with the last allocated address per family", () => {
  withDir((dir) => {
    const s = AllocationStore.open(dir);
    s.commitAllocations([alloc("10.0.0.1", "a"), alloc("fd00::1", "a")]);
    s.commitAllocations([alloc("10.0.0.2", "b")]);
    s.commitRelease(["10.0.0.1", "fd00::1"]);
    s.close();
    const r = AllocationStore.open(dir);
    assert.equal(
      r.list().map((a) => a.ip),
      ["10.0.0.2"],
    );
    assert.equal(r.lastAllocated(), { v4: "10.0.0.2", v6: "fd00::1" });
    assert.equal(r.forAttachment("b", "eth0").length, 1);
    r.close();
  });
});

test("an address held by another attachment is refused; the same attachment may re-commit", () => {
  withDir((dir) => {
    const s = AllocationStore.open(dir);
    s.commitAllocations([alloc("10.0.0.1", "a")]);
    assert.throws(() => s.commitAllocations([alloc("10.0.0.1", "b")]), /already allocated to container a/);
    s.commitAllocations([alloc("10.0.0.1", "a")]);
    // Releasing a free address writes nothing.
    const before = readFileSync(join(dir, JOURNAL_NAME), "utf8");
    s.commitRelease(["10.0.0.9"]);
    assert.is(readFileSync(join(dir, JOURNAL_NAME), "utf8"), before);
    s.close();
  });
});

test("a commit cut short by a crash is dropped and the file truncated to the last whole line", () => {
  withDir((dir) => {
    const s = AllocationStore.open(dir);
    s.commitAllocations([alloc("10.0.0.1", "a")]);
    s.close();
    appendFileSync(join(dir, JOURNAL_NAME), '{"op":"add","allocs":[{"ip":"10.0.0.2","contai');
    const r = AllocationStore.open(dir);
    assert.equal(
      r.list().map((a) => a.ip),
      ["10.0.0.1"],
    );
    r.commitAllocations([alloc("10.0.0.3", "c")]);
    r.close();
    const lines = readFileSync(join(dir, JOURNAL_NAME), "utf8").trim().split("\n");
    assert.is(lines.length, 2);
    for (const line of lines) JSON.parse(line);
  });
});

test("a corrupt line in the middle is an error naming the file and line", () => {
  withDir((dir) => {
    writeFileSync(join(dir, JOURNAL_NAME), 'not json\n{"op":"release","ips":[]}\n');
    assert.throws(() => AllocationStore.open(dir), /allocations.journal: line 1 is not JSON/);
  });
});

test("compaction rewrites the journal to the live allocations and keeps the cursor", () => {
  withDir((dir) => {
    const s = AllocationStore.open(dir, { compactAfter: 10 });
    for (let i = 1; i <= 30; i++) {
      s.commitAllocations([alloc(`10.0.0.${i}`, `c${i}`)]);
      if (i % 3 !== 0) s.commitRelease([`10.0.0.${i}`]);
    }
    s.close();
    const lines = readFileSync(join(dir, JOURNAL_NAME), "utf8").trim().split("\n");
    assert.ok(lines.length < 30, `journal has ${lines.length} lines`);
    const r = AllocationStore.open(dir);
    assert.equal(
      r
        .list()
        .map((a) => a.ip)
        .sort(),
      Array.from({ length: 10 }, (_, i) => `10.0.0.${(i + 1) * 3}`).sort(),
    );
    assert.is(r.lastAllocated().v4, "10.0.0.30");
    r.close();
  });
});

test.run();
