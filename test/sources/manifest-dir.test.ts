import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ManifestDirSource } from "../../runtime/sources/manifest-dir.ts";
import { recorder, waitFor } from "./source-recorder.ts";

const test = suite("manifest directory source");

const svc = (name: string, port: number) =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}}\nspec: {clusterIP: 10.96.0.10, ports: [{port: ${port}}]}\n`;

test("initial listing, then adds, updates, deletes as files change (fs.watch)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wpt-src-"));
  const { state, sink } = recorder();
  const source = new ManifestDirSource({ dir, debounceMs: 20, rescanMs: 0 });
  try {
    writeFileSync(join(dir, "a.yaml"), `${svc("a", 80)}---\n${svc("b", 80)}`);
    writeFileSync(join(dir, ".hidden.yaml"), svc("hidden", 80));
    await source.start(sink);
    assert.is(state.synced, 1);
    assert.equal(
      state.events.map((e) => `${e.type} ${e.key}`),
      ["add default/a", "add default/b"],
    );
    state.events.length = 0;

    writeFileSync(join(dir, "a.yaml"), `${svc("a", 81)}---\n${svc("b", 80)}`);
    await waitFor(() => state.events.length > 0, "update");
    assert.equal(
      state.events.map((e) => `${e.type} ${e.key}`),
      ["update default/a"],
    );
    state.events.length = 0;

    writeFileSync(join(dir, "a.yaml"), svc("a", 81));
    await waitFor(() => state.events.length > 0, "delete");
    assert.equal(
      state.events.map((e) => `${e.type} ${e.key}`),
      ["delete default/b"],
    );
    state.events.length = 0;

    // A file that stops parsing keeps its last good objects and reports a problem.
    writeFileSync(join(dir, "a.yaml"), "kind: Service\nmetadata: [broken\n");
    await waitFor(() => state.problems.length > 0, "problem");
    assert.match(state.problems[0].message, "keeping the last good version");
    assert.equal(state.events, []);

    unlinkSync(join(dir, "a.yaml"));
    await waitFor(() => state.events.length > 0, "delete after removal");
    assert.equal(
      state.events.map((e) => `${e.type} ${e.key}`),
      ["delete default/a"],
    );
  } finally {
    await source.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("duplicates across files: the first file wins and the second is reported", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wpt-src-"));
  const { state, sink } = recorder();
  const source = new ManifestDirSource({ dir, debounceMs: 20, rescanMs: 0 });
  try {
    writeFileSync(join(dir, "1.yaml"), svc("a", 80));
    writeFileSync(
      join(dir, "2.json"),
      JSON.stringify({ kind: "Service", metadata: { name: "a" }, spec: {} }),
    );
    await source.start(sink);
    assert.is(state.events.length, 1);
    assert.equal((state.events[0].object.spec as { ports: unknown[] }).ports, [{ port: 80 }]);
    assert.equal(state.problems, [
      { origin: "2.json", message: "Service default/a: duplicate of the one in 1.yaml; ignored" },
    ]);
    state.events.length = 0;

    // The winner goes: the unchanged second file's object takes over (only its digest was kept, so
    // the second file is read again for it).
    unlinkSync(join(dir, "1.yaml"));
    source.changed();
    await waitFor(() => state.events.length > 0, "update from the second file");
    assert.equal(state.events, [
      {
        type: "update",
        kind: "Service",
        key: "default/a",
        object: { kind: "Service", metadata: { name: "a" }, spec: {} },
      },
    ]);
    assert.equal(state.problems, []);
  } finally {
    await source.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a duplicate that takes over from a file that no longer holds it waits for that file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wpt-src-"));
  const { state, sink } = recorder();
  const source = new ManifestDirSource({ dir, debounceMs: 20, rescanMs: 0, settleMs: 0 });
  try {
    writeFileSync(join(dir, "1.yaml"), svc("a", 80));
    writeFileSync(join(dir, "2.yaml"), svc("a", 81));
    await source.start(sink);
    assert.equal(
      state.events.map((e) => `${e.type} ${e.key}`),
      ["add default/a"],
    );
    state.events.length = 0;

    // 2.yaml stops parsing (its last good version, port 81, is kept but not as an object), then
    // the winner goes: the port-81 object cannot be had, so the listing stays as it was.
    writeFileSync(join(dir, "2.yaml"), "kind: Service\nmetadata: [broken\n");
    unlinkSync(join(dir, "1.yaml"));
    source.changed();
    await waitFor(
      () => state.problems.some((p) => p.message.includes("not in the file as it is now")),
      "the problem",
    );
    assert.equal(state.events, []);
    assert.equal(
      state.problems.find((p) => p.message.includes("not in the file")),
      {
        origin: "2.yaml",
        message: "Service default/a: not in the file as it is now; read again on the next scan",
      },
    );

    // Fixed: read again, and delivered.
    writeFileSync(join(dir, "2.yaml"), svc("a", 82));
    source.changed();
    await waitFor(() => state.events.length > 0, "the update");
    assert.equal(
      state.events.map((e) => `${e.type} ${e.key}`),
      ["update default/a"],
    );
    assert.equal((state.events[0].object.spec as { ports: unknown[] }).ports, [{ port: 82 }]);
  } finally {
    await source.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a missing directory is a clear error", async () => {
  const source = new ManifestDirSource({ dir: "/nonexistent/wasmplane-manifests" });
  try {
    await source.start(recorder().sink);
    assert.unreachable("started");
  } catch (err) {
    assert.match(
      (err as Error).message,
      "manifests directory /nonexistent/wasmplane-manifests does not exist",
    );
  }
});

test.run();
