// deploy/Containerfile and deploy/agent-daemonset.yaml agree: the DaemonSet runs the image's
// entrypoint as the image's user, its mounts do not hide the image's files, and the runtime stage
// holds everything the agent loads (the built plugins and helpers, the sources the agent imports,
// the packages it imports) and no compiler. The image is not built here (no container engine).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  deployObject,
  type Instruction,
  lastInstruction,
  type Manifest,
  readImageDefinition,
  root,
  type Stage,
} from "./layout.ts";

const test = suite("deploy image");

const image = readImageDefinition();
const runtimeStage = image.stages.at(-1)!;
const buildStage = image.stages[0];
const WORKDIR = "/opt/wasmplane";

function run(stage: Stage): string {
  return stage.instructions
    .filter((i) => i.op === "RUN")
    .map((i) => i.args)
    .join("\n");
}

/** Destination paths (relative to WORKDIR) of the runtime stage's copies from the build stage. */
function copiedFromBuild(): string[] {
  return runtimeStage.instructions
    .filter((i: Instruction) => i.op === "COPY" && i.args.startsWith(`--from=${buildStage.name} `))
    .flatMap((i) => {
      const parts = i.args.split(/\s+/).slice(1);
      const dest = parts.at(-1)!;
      return parts.slice(0, -1).map((src) => relative(WORKDIR, dest === "./" ? src : resolve(WORKDIR, dest)));
    });
}

function pod(): Manifest {
  return deployObject("DaemonSet", "wasmplane-agent").spec.template.spec;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const path = join(dir, e);
    return statSync(path).isDirectory() ? sourceFiles(path) : e.endsWith(".ts") ? [path] : [];
  });
}

test("two stages on one Node.js LTS base (Debian 12): build, then runtime", () => {
  assert.is(image.stages.length, 2);
  assert.is(buildStage.name, "build");
  assert.is(buildStage.from, runtimeStage.from, "same base");
  const base = buildStage.from.replace(/^\$\{(\w+)\}$/, (_, arg: string) => image.args[arg]);
  const m = /^node:(\d+)-bookworm-slim$/.exec(base);
  assert.ok(m, base);
  assert.ok(Number(m![1]) >= 22 && Number(m![1]) % 2 === 0, `${base}: an even (LTS) major >= 22`);
});

test("the build stage compiles the plugins with their lock, the netlink sender and the CNI binary", () => {
  const steps = run(buildStage);
  assert.match(steps, "npm ci");
  assert.match(steps, "runtime/main.ts plugin build");
  assert.match(steps, "senderBinary()");
  assert.match(steps, "cniBinary()");
  assert.match(steps, "npm prune --omit=dev");
  assert.match(steps, "libc6-dev", "a static libc for the CNI binary");
});

test("the runtime stage has nft, ip and conntrack, no compiler, and the build stage's outputs", () => {
  const steps = run(runtimeStage);
  for (const pkg of ["nftables", "iproute2", "conntrack"]) assert.match(steps, pkg);
  assert.not.match(steps, /\bgcc\b|libc6-dev|npm ci/);
  assert.is(lastInstruction(runtimeStage, "WORKDIR"), WORKDIR);
  const copied = copiedFromBuild();
  for (const path of ["node_modules", "runtime", "nft", "build", "package.json"])
    assert.ok(copied.includes(path), `${path} copied from the build stage (copied: ${copied.join(", ")})`);
});

test("everything the agent's sources import is in the image", () => {
  const copied = copiedFromBuild();
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
    dependencies: Record<string, string>;
  };
  const importRe = /^(?:import|export)(?!\s+type\b)[^;]*?\sfrom\s+"([^"]+)"|import\("([^"]+)"\)/gm;
  for (const dir of ["runtime", "nft"]) {
    for (const file of sourceFiles(join(root, dir))) {
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(importRe)) {
        const spec = m[1] ?? m[2];
        const where = `${relative(root, file)} imports ${spec}`;
        if (spec.startsWith(".")) {
          const target = relative(root, resolve(file, "..", spec));
          assert.ok(copied.includes(target.split("/")[0]), `${where}: outside the copied directories`);
        } else if (!spec.startsWith("node:")) {
          const name = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0];
          assert.ok(
            name in pkg.dependencies,
            `${where}: not a runtime dependency (npm prune --omit=dev drops it)`,
          );
        }
      }
    }
  }
});

test("the DaemonSet runs the image's entrypoint, as the image's user, with commands that exist", () => {
  const entrypoint = JSON.parse(lastInstruction(runtimeStage, "ENTRYPOINT")!) as string[];
  assert.equal(entrypoint, ["node", "--import", "tsx", "runtime/main.ts"]);
  assert.ok(existsSync(join(root, "runtime/main.ts")));
  const user = lastInstruction(runtimeStage, "USER")!.split(":")[0];
  const commands = readdirSync(join(root, "runtime/commands")).map((f) => f.replace(/\.ts$/, ""));
  const spec = pod();
  for (const c of [...spec.initContainers, ...spec.containers]) {
    assert.is(c.command, undefined, `${c.name}: no command override, the entrypoint applies`);
    assert.ok(commands.includes(c.args[0]), `${c.name}: wasmplane ${c.args[0]} exists`);
    assert.is(String(c.securityContext?.runAsUser), user, `${c.name}: runs as the image's user`);
    assert.is(c.image, spec.containers[0].image, `${c.name}: the same image`);
  }
});

test("no mount hides the image's files", () => {
  const spec = pod();
  for (const c of [...spec.initContainers, ...spec.containers])
    for (const m of c.volumeMounts ?? []) {
      const path = m.mountPath as string;
      assert.ok(
        !(path === WORKDIR || path.startsWith(`${WORKDIR}/`) || WORKDIR.startsWith(`${path}/`)),
        `${c.name}: ${path} would hide ${WORKDIR}`,
      );
      for (const system of ["/usr", "/bin", "/sbin", "/lib", "/etc"])
        assert.is.not(path, system, `${c.name}: ${path} would hide the image's ${system}`);
    }
});

test.run();
