// Runs benchmarks: every bench/<name>.ts (or only those named on the command line), one after another.
import { readdirSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";

const dir = fileURLToPath(new URL(".", import.meta.url));
const wanted = process.argv.slice(2);
const benches = readdirSync(dir)
  .filter((f) => f.endsWith(".ts") && f !== "run.ts")
  .map((f) => f.slice(0, -3))
  .filter((name) => wanted.length === 0 || wanted.includes(name));

for (const name of benches) {
  console.log(`\n== bench/${name}`);
  await import(pathToFileURL(`${dir}${name}.ts`).href);
}
if (benches.length === 0) console.log(`no benchmark matched ${wanted.join(" ")}`);
