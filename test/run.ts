// The single test entry: imports every `*.test.ts` below test/, runs the uvu suites they register,
// and ends with one line `N passed, N failed` (plus `, N skipped`). Exits non-zero on any failure.
// Usage: tsx test/run.ts [substring …]   (only files whose path contains one of the substrings)
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

type SuiteResult = [errors: string | true, passed: number, skipped: number, total: number];
type QueuedSuite = () => Promise<SuiteResult>;
type QueueGroup = [string | null, ...QueuedSuite[]];

const globals = globalThis as unknown as { UVU_DEFER: number; UVU_QUEUE: QueueGroup[]; UVU_INDEX: number };
globals.UVU_DEFER = 1;
globals.UVU_QUEUE = [];

const testDir = fileURLToPath(new URL(".", import.meta.url));
const root = join(testDir, "..");

function findTestFiles(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) found.push(...findTestFiles(path));
    else if (entry.endsWith(".test.ts")) found.push(path);
  }
  return found;
}

const filters = process.argv.slice(2);
const files = findTestFiles(testDir).filter(
  (f) => filters.length === 0 || filters.some((p) => relative(root, f).includes(p)),
);

let passed = 0;
let failed = 0;
let skipped = 0;
const failures: string[] = [];

for (const [index, file] of files.entries()) {
  const name = relative(root, file);
  globals.UVU_QUEUE.push([name]);
  globals.UVU_INDEX = index;
  try {
    await import(pathToFileURL(file).href);
  } catch (err) {
    failed++;
    failures.push(`${name}: failed to load: ${(err as Error).stack ?? err}`);
  }
}

for (const group of globals.UVU_QUEUE) {
  const [name, ...suites] = group;
  if (suites.length === 0) continue;
  process.stdout.write(`\n${name}\n`);
  for (const suite of suites) {
    const [errors, ok, skip, total] = await suite();
    passed += ok;
    skipped += skip;
    // uvu swallows an error thrown by a before/after hook; count every test that did not pass.
    failed += total - ok;
    if (typeof errors === "string" && errors.length > 0) failures.push(errors);
  }
}

if (failures.length > 0) process.stdout.write(`\n${failures.join("\n")}\n`);
if (files.length === 0) {
  process.stdout.write("no test files matched\n");
  failed++;
}
process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}\n`);
process.exitCode = failed > 0 ? 1 : 0;
