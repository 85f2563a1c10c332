// Chooses the IPAM decider from its configured name: the built-in `range` (TypeScript), a shipped
// Wasm plugin by name (`wasm:range`, `wasm:random`, `wasm:static`, built into build/plugins/ipam/
// by `npm run plugins:build`), or any ipam module by path (`wasm:/path/to/plugin.wasm`).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { IpamDecider } from "./decider.ts";
import { rangeDecider } from "./range.ts";
import { createWasmIpamDecider, type WasmIpamOptions } from "./wasm.ts";

export const SHIPPED_WASM_IPAM = ["range", "random", "static"];

export function shippedPluginPath(name: string): string {
  return fileURLToPath(new URL(`../../build/plugins/ipam/${name}.wasm`, import.meta.url));
}

export async function ipamDeciderFromSpec(
  spec: string,
  options: Omit<WasmIpamOptions, "file"> = {},
): Promise<IpamDecider> {
  if (spec === "range") return rangeDecider;
  if (spec.startsWith("wasm:")) {
    const target = spec.slice(5);
    const file = SHIPPED_WASM_IPAM.includes(target) ? shippedPluginPath(target) : target;
    if (!existsSync(file))
      throw new Error(
        `ipam: ${file} does not exist${SHIPPED_WASM_IPAM.includes(target) ? " (run `npm run plugins:build`)" : ""}`,
      );
    return createWasmIpamDecider({ ...options, file });
  }
  throw new Error(
    `ipam: unknown decider '${spec}' (want range, wasm:${SHIPPED_WASM_IPAM.join("|wasm:")} or wasm:FILE)`,
  );
}
