// Builds kube-apiserver, kubectl and etcd from the Go module in tools/devcluster, once per source
// hash: the binaries land in the cache (see layout.ts) and every later call returns them at once.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cacheRoot } from "./layout.ts";

export const binaries = ["etcd", "kube-apiserver", "kubectl"] as const;
export type Binary = (typeof binaries)[number];

export const moduleDir = fileURLToPath(new URL("../../tools/devcluster/", import.meta.url));

export interface Built {
  version: string;
  binDir: string;
  path(binary: Binary): string;
  /** False when the binaries came from the cache. */
  compiled: boolean;
}

/** The go command: $GO, else `go` on PATH, else the standard install at /usr/local/go/bin/go; null if none. */
export function findGo(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.GO) return env.GO;
  for (const dir of (env.PATH ?? "").split(":").filter(Boolean))
    if (existsSync(join(dir, "go"))) return join(dir, "go");
  return existsSync("/usr/local/go/bin/go") ? "/usr/local/go/bin/go" : null;
}

/** The k8s.io/kubernetes version that go.mod requires, e.g. "v1.37.2". */
export function kubernetesVersion(goMod: string): string {
  const m = goMod.match(/^\s*k8s\.io\/kubernetes\s+(v1\.(\d+)\.\d+\S*)/m);
  if (!m) throw new Error(`${join(moduleDir, "go.mod")}: no requirement on k8s.io/kubernetes`);
  return m[1];
}

/** -ldflags: strip symbols, and stamp the version the way Kubernetes' own build does. */
export function linkerFlags(version: string): string {
  const [major, minor] = version.slice(1).split(".");
  const stamp = (pkg: string) =>
    [`gitVersion=${version}`, `gitMajor=${major}`, `gitMinor=${minor}`, "gitTreeState=clean"].map(
      (v) => `-X ${pkg}.${v}`,
    );
  return [
    "-s",
    "-w",
    ...stamp("k8s.io/component-base/version"),
    ...stamp("k8s.io/client-go/pkg/version"),
  ].join(" ");
}

/** Files whose content decides the binaries: go.mod, go.sum and every .go file, in a stable order. */
function sourceFiles(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true }).sort((a, b) =>
    a.name < b.name ? -1 : 1,
  )) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...sourceFiles(dir, rel));
    else if (entry.name.endsWith(".go") || entry.name === "go.mod" || entry.name === "go.sum") out.push(rel);
  }
  return out;
}

export function sourceHash(dir: string, goVersion: string, ldflags: string): string {
  const h = createHash("sha256");
  h.update(`${goVersion}\n${ldflags}\n`);
  for (const rel of sourceFiles(dir)) h.update(`${rel}\n`).update(readFileSync(join(dir, rel)));
  return h.digest("hex").slice(0, 16);
}

function run(command: string, args: string[], cwd: string, onLine?: (line: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const onData = (b: Buffer) => {
      const text = b.toString();
      output += text;
      if (onLine) for (const line of text.split("\n")) if (line.trim()) onLine(line);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("error", (err) =>
      reject(
        new Error(
          `${command}: ${err.message} (the dev cluster builds kube-apiserver, kubectl and etcd with Go >= 1.26; install Go or put it on PATH)`,
        ),
      ),
    );
    child.once("exit", (code) => {
      if (code === 0) resolve(output);
      else {
        const tail = output.trim().split("\n").slice(-40).join("\n");
        reject(new Error(`${command} ${args.join(" ")} (in ${cwd}) exited ${code}:\n${tail}`));
      }
    });
  });
}

/**
 * Returns the cached binaries, building them first when the cache has none for this source hash.
 * `progress` receives one line per step and, while compiling, a line every `reportEveryMs`.
 */
export async function ensureBinaries(
  progress: (line: string) => void,
  options: { cache?: string; reportEveryMs?: number } = {},
): Promise<Built> {
  const goMod = readFileSync(join(moduleDir, "go.mod"), "utf8");
  const version = kubernetesVersion(goMod);
  const ldflags = linkerFlags(version);
  const go = findGo();
  if (!go)
    throw new Error(
      "go not found ($GO, PATH, /usr/local/go/bin): the dev cluster builds kube-apiserver, kubectl and etcd with Go >= 1.26",
    );
  const goVersion = (await run(go, ["env", "GOVERSION"], moduleDir)).trim();
  const binDir = join(
    options.cache ?? cacheRoot(),
    `${version}-${sourceHash(moduleDir, goVersion, ldflags)}`,
    "bin",
  );
  const built = (compiled: boolean): Built => ({
    version,
    binDir,
    path: (b) => join(binDir, b),
    compiled,
  });
  if (binaries.every((b) => existsSync(join(binDir, b)))) return built(false);

  progress(`building etcd, kube-apiserver and kubectl ${version} with ${goVersion} into ${binDir}`);
  progress(
    "  (first run only: about 10 minutes on 2 idle cores with an empty Go build cache, longer on a busy machine)",
  );
  const tmp = `${binDir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  let packages = 0;
  const started = Date.now();
  const timer = setInterval(
    () => progress(`  … ${packages} packages compiled, ${Math.round((Date.now() - started) / 1000)}s`),
    options.reportEveryMs ?? 30_000,
  );
  try {
    await run(
      go,
      ["build", "-v", "-trimpath", "-ldflags", ldflags, "-o", `${tmp}/`, ...binaries.map((b) => `./${b}`)],
      moduleDir,
      () => packages++,
    );
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  } finally {
    clearInterval(timer);
  }
  mkdirSync(dirname(binDir), { recursive: true });
  // Another build may have finished first; its binaries come from the same sources.
  if (existsSync(binDir)) rmSync(tmp, { recursive: true, force: true });
  else renameSync(tmp, binDir);
  progress(`built in ${Math.round((Date.now() - started) / 1000)}s`);
  return built(true);
}
