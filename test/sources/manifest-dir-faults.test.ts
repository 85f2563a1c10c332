// The manifest directory on an operator's bad day (issue 12): huge, hostile, half-written and
// symlinked files, and a directory that is not there. Whatever happens, the source reports a problem
// that names the file and never delivers fewer objects because of a file it could not read whole.
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  renameSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  defaultMaxFileBytes,
  type ManifestDirOptions,
  ManifestDirSource,
} from "../../runtime/sources/manifest-dir.ts";
import { listManifestFiles } from "../../runtime/sources/manifest-files.ts";
import { aliasBomb, nestedLists } from "./hostile-texts.ts";
import { eventNames, recorder, sleep, waitFor } from "./source-recorder.ts";

const test = suite("manifest directory source: faults");

const svc = (name: string, port = 80) =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}}\nspec: {clusterIP: 10.96.0.10, ports: [{port: ${port}}]}\n`;

/** Writes a file whose mtime is a minute old: settled, so a test need not wait out the settle time. */
function writeOld(path: string, text: string): void {
  writeFileSync(path, text);
  const old = new Date(Date.now() - 60_000);
  utimesSync(path, old, old);
}

/** Runs `body` with a fresh directory and a source on it (stopped and removed afterwards). */
async function withSource(
  options: Partial<ManifestDirOptions>,
  body: (dir: string, source: ManifestDirSource) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "wpt-src-faults-"));
  const source = new ManifestDirSource({ dir, debounceMs: 20, rescanMs: 0, settleMs: 100, ...options });
  try {
    await body(dir, source);
  } finally {
    await source.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

test("every rename onto the same name is seen without the periodic rescan, in subdirectories too", async () => {
  await withSource({}, async (dir, source) => {
    mkdirSync(join(dir, "sub"));
    const { state, sink } = recorder();
    await source.start(sink);
    const sub = join(dir, "sub");
    const steps: [string, string][] = [
      [dir, "a"],
      [dir, "a"],
      [sub, "b"],
      [sub, "b"],
      [dir, "a"],
    ];
    for (const [i, [where, name]] of steps.entries()) {
      writeOld(join(dir, ".next"), svc(name, 80 + i));
      renameSync(join(dir, ".next"), join(where, `${name}.yaml`));
      await waitFor(
        () => JSON.stringify(state.events.at(-1)?.object ?? {}).includes(`"port":${80 + i}`),
        `rename ${i} into ${where}`,
        3000,
      );
    }
  });
});

test("a missing directory, or a file in its place, rejects start without synced", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wpt-src-faults-"));
  try {
    writeFileSync(join(dir, "file"), svc("a"));
    const cases: [string, string][] = [
      [join(dir, "missing"), `manifests directory ${join(dir, "missing")} does not exist`],
      [join(dir, "file"), `manifests directory ${join(dir, "file")} is not a directory`],
    ];
    for (const [path, message] of cases) {
      const { state, sink } = recorder();
      const source = new ManifestDirSource({ dir: path, rescanMs: 0 });
      const error = await source.start(sink).then(
        () => null,
        (err: Error) => err,
      );
      await source.stop();
      assert.ok(error, `${path}: started`);
      assert.is(error.message, message);
      assert.is(state.synced, 0);
      assert.equal(state.events, []);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("hostile files present at start are problems naming them; start and the other files go on", async () => {
  await withSource({}, async (dir, source) => {
    writeOld(join(dir, "a.yaml"), svc("a"));
    writeOld(join(dir, "bomb.yaml"), `${svc("fine")}---\n${aliasBomb()}`);
    writeOld(join(dir, "deep.json"), nestedLists(20_000, true));
    writeOld(join(dir, "deep.yaml"), nestedLists(20_000, false));
    const { state, sink } = recorder();
    await source.start(sink);
    assert.is(state.synced, 1);
    assert.equal(eventNames(state.events), ["add default/a", "add default/fine"]);
    assert.equal(
      state.problems.map((p) => p.origin.replace(/ items.*/, "")),
      ["bomb.yaml#1", "deep.json", "deep.yaml#0"],
    );
  });
});

test("a file turned hostile after start keeps its last good version; nothing is thrown", async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown) => unhandled.push(err);
  process.on("unhandledRejection", onUnhandled);
  try {
    await withSource({}, async (dir, source) => {
      writeOld(join(dir, "a.yaml"), svc("a"));
      const { state, sink } = recorder();
      await source.start(sink);
      state.events.length = 0;
      for (const text of [
        aliasBomb(),
        nestedLists(20_000, false),
        "kind: Service\nmetadata: &m {name: a, m: *m}\n",
      ]) {
        writeOld(join(dir, "a.yaml"), text);
        source.changed();
        await waitFor(() => state.problems.length > 0, "a problem");
        assert.match(state.problems[0].message, "(keeping the last good version)");
        assert.is(state.problems[0].origin.startsWith("a.yaml"), true);
        writeOld(join(dir, "a.yaml"), svc("a"));
        source.changed();
        await waitFor(() => state.problems.length === 0, "the problem to clear");
      }
      assert.equal(state.events, []);
    });
  } finally {
    process.off("unhandledRejection", onUnhandled);
  }
  assert.equal(unhandled, []);
});

test("a 50 MB manifest is rejected by its size without being read", async () => {
  await withSource({}, async (dir, source) => {
    writeOld(join(dir, "a.yaml"), svc("a"));
    const doc = `---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata: {a: "${"x".repeat(1000)}"}\n`;
    const big = doc.repeat(Math.ceil((50 * 1024 * 1024) / doc.length));
    writeOld(join(dir, "big.yaml"), big);
    const { state, sink } = recorder();
    const started = performance.now();
    await source.start(sink);
    // Parsing it takes 5 s or more (and GBs of heap); a stat takes nothing.
    assert.ok(performance.now() - started < 2000, `start took ${performance.now() - started} ms`);
    assert.equal(eventNames(state.events), ["add default/a"]);
    assert.equal(state.problems, [
      {
        origin: "big.yaml",
        message: `${big.length} bytes, over the limit of ${defaultMaxFileBytes} per manifest file; not read`,
      },
    ]);
  });
});

test("a file that grows past the size limit keeps its last good version", async () => {
  await withSource({ maxFileBytes: 4096 }, async (dir, source) => {
    writeOld(join(dir, "a.yaml"), svc("a"));
    const { state, sink } = recorder();
    await source.start(sink);
    state.events.length = 0;
    writeOld(join(dir, "a.yaml"), `${svc("a")}---\n${svc("b").repeat(100)}`);
    source.changed();
    await waitFor(() => state.problems.length > 0, "the size problem");
    assert.match(state.problems[0].message, /over the limit of 4096 per manifest file; not read \(keeping/);
    assert.equal(state.events, []);
  });
});

/** Lays out `files` the way kubelet writes a ConfigMap volume; returns the timestamped directory. */
function writeConfigMapVolume(dir: string, version: string, files: Record<string, string>): void {
  const data = `..${version}`;
  mkdirSync(join(dir, data));
  for (const [name, text] of Object.entries(files)) writeOld(join(dir, data, name), text);
  symlinkSync(data, join(dir, "..data_tmp"));
  renameSync(join(dir, "..data_tmp"), join(dir, "..data"));
  for (const name of Object.keys(files)) {
    try {
      symlinkSync(join("..data", name), join(dir, name));
    } catch {
      // already linked from an earlier version
    }
  }
}

test("a ConfigMap volume (symlinks through ..data) is read once, and its updates are seen", async () => {
  await withSource({}, async (dir, source) => {
    writeConfigMapVolume(dir, "2026_12_07_01", { "services.yaml": `${svc("a")}---\n${svc("b")}` });
    const { state, sink } = recorder();
    await source.start(sink);
    assert.equal(eventNames(state.events), ["add default/a", "add default/b"]);
    assert.equal(state.problems, []);
    state.events.length = 0;

    writeConfigMapVolume(dir, "2026_12_07_02", { "services.yaml": `${svc("a", 81)}---\n${svc("b")}` });
    rmSync(join(dir, "..2026_12_07_01"), { recursive: true });
    source.changed();
    await waitFor(() => state.events.length > 0, "the update");
    assert.equal(eventNames(state.events), ["update default/a"]);
    assert.equal(state.problems, []);
  });
});

test("symlink loops are not followed forever; each is reported once", async () => {
  await withSource({}, async (dir, source) => {
    writeOld(join(dir, "a.yaml"), svc("a"));
    mkdirSync(join(dir, "sub"));
    writeOld(join(dir, "sub", "b.yaml"), svc("b"));
    symlinkSync("..", join(dir, "sub", "up"));
    symlinkSync(dir, join(dir, "root"));
    symlinkSync("self.yaml", join(dir, "self.yaml"));
    const { state, sink } = recorder();
    await source.start(sink);
    assert.equal(eventNames(state.events), ["add default/a", "add default/b"]);
    assert.equal(state.problems.map((p) => p.origin).sort(), ["root", "self.yaml", "sub/up"]);
    assert.match(state.problems.find((p) => p.origin === "root")?.message ?? "", "symlink loop");
    assert.match(state.problems.find((p) => p.origin === "self.yaml")?.message ?? "", "ELOOP");
  });
});

test("a listing past the entry limit fails instead of coming back with holes", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wpt-src-faults-"));
  try {
    for (let i = 0; i < 12; i++) writeFileSync(join(dir, `${i}.yaml`), svc(`s${i}`));
    assert.is((await listManifestFiles(dir, 12)).files.length, 12);
    const error = await listManifestFiles(dir, 11).then(
      () => null,
      (err: Error) => err,
    );
    assert.is(error?.message, "more than 11 entries (a symlink to a large tree?); not listed");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a file rewritten in place is not acted on while it is being written", async () => {
  await withSource({ settleMs: 400 }, async (dir, source) => {
    const path = join(dir, "services.yaml");
    const names = ["a", "b", "c", "d"];
    writeOld(path, names.map((n) => svc(n)).join("---\n"));
    const { state, sink } = recorder();
    await source.start(sink);
    assert.is(state.events.length, 4);
    state.events.length = 0;

    // The writer stops at a `---` boundary: the first half alone is a valid, shorter file.
    const fd = openSync(path, "w");
    try {
      writeSync(fd, `${svc("a", 81)}---\n${svc("b")}`);
      source.changed();
      await sleep(200); // a scan has looked at the half-written file by now
      writeSync(fd, `---\n${svc("c")}---\n${svc("d")}`);
    } finally {
      closeSync(fd);
    }
    await waitFor(() => state.events.length > 0, "the update", 3000);
    await sleep(200);
    assert.equal(eventNames(state.events), ["update default/a"]);
  });
});

test("a file still changing at start holds back synced until it settles", async () => {
  await withSource({ settleMs: 300, startWaitMs: 50 }, async (dir, source) => {
    const path = join(dir, "a.yaml");
    writeFileSync(path, svc("a"));
    // An mtime in the future never looks old enough: only two equal looks settle it.
    const future = new Date(Date.now() + 3_600_000);
    utimesSync(path, future, future);
    const { state, sink } = recorder();
    await source.start(sink);
    assert.is(state.synced, 0);
    assert.equal(state.events, []);
    await waitFor(() => state.synced === 1, "synced");
    assert.equal(eventNames(state.events), ["add default/a"]);
  });
});

test.run();
