// plugin build tells each plugin as it compiles and how long it took, and nothing for one that is
// up to date (a full build takes tens of seconds, and used to be silent).
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { buildPlugins, projectRoot } from "../../runtime/plugins/build.ts";
import { tempDir } from "./fixtures.ts";

test("plugin build reports each plugin it compiles, and none that is up to date", async () => {
  const dir = tempDir();
  const pluginsDir = join(dir, "plugins");
  mkdirSync(join(pluginsDir, "test"), { recursive: true });
  for (const f of ["wat-round-robin.wat", "wat-round-robin.manifest.json"])
    copyFileSync(join(projectRoot, "plugins", "test", f), join(pluginsDir, "test", f));
  const lines: string[] = [];
  const outDir = join(dir, "out");
  const first = await buildPlugins({ pluginsDir, outDir, progress: (l) => lines.push(l) });
  assert.is(first.built.length, 1);
  assert.is(lines[0], "compiling test/wat-round-robin.wasm");
  assert.match(lines[1], /^ {2}test\/wat-round-robin\.wasm in \d+\.\d s$/);
  lines.length = 0;
  const second = await buildPlugins({ pluginsDir, outDir, progress: (l) => lines.push(l) });
  assert.is(second.upToDate.length, 1);
  assert.equal(lines, []);
});

test.run();
