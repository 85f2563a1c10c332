// `wasmplane plugin build`: compile every AssemblyScript plugin under plugins/ with asc.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const summary = "build|inspect|test|lock Wasm plugins";

const root = fileURLToPath(new URL("../../", import.meta.url));

function build(): number {
  const dir = join(root, "plugins");
  const out = join(root, "build", "plugins");
  mkdirSync(out, { recursive: true });
  const sources = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".ts")) : [];
  for (const file of sources) {
    const name = file.slice(0, -3);
    execFileSync(
      process.execPath,
      [
        join(root, "node_modules/assemblyscript/bin/asc.js"),
        join(dir, file),
        "--config",
        join(root, "asconfig.json"),
        "--target",
        "release",
        "--outFile",
        join(out, `${name}.wasm`),
      ],
      { stdio: "inherit" },
    );
  }
  console.log(`built ${sources.length} plugin(s) into ${out}`);
  return 0;
}

export async function run(args: string[]): Promise<number> {
  const [sub] = args;
  if (sub === "build") return build();
  console.error("usage: wasmplane plugin build");
  return 2;
}
