// Reads deploy/ the way the tests about it need: the manifests (as `kubectl apply -R -f deploy/`
// sees them) and the image definition (deploy/Containerfile, parsed into stages and instructions).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

export const root = fileURLToPath(new URL("../../", import.meta.url));
export const deployDir = join(root, "deploy");

// biome-ignore lint/suspicious/noExplicitAny: manifests are free-form YAML; tests check their shape.
export type Manifest = Record<string, any>;

export interface ManifestFile {
  /** Path relative to the repository root. */
  path: string;
  docs: Manifest[];
}

/** The files kubectl reads from a directory: .json, .yaml and .yml (others are skipped). */
export function manifestFiles(dir = deployDir, recursive = true): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) {
      if (recursive) out.push(...manifestFiles(path, recursive));
    } else if (/\.(json|ya?ml)$/.test(entry)) out.push(path);
  }
  return out;
}

export function readManifests(path: string): ManifestFile {
  const text = readFileSync(path, "utf8");
  const docs = parseAllDocuments(text).map((d, i) => {
    if (d.errors.length > 0) throw new Error(`${path} document ${i}: ${d.errors[0].message}`);
    return d.toJS() as Manifest | null;
  });
  return { path: relative(root, path), docs: docs.filter((d): d is Manifest => d !== null) };
}

/** The one object of `kind` among the top-level manifests of deploy/ (what `kubectl apply -f deploy/` applies). */
export function deployObject(kind: string, name?: string): Manifest {
  const found = manifestFiles(deployDir, false)
    .flatMap((f) => readManifests(f).docs)
    .filter((d) => d.kind === kind && (name === undefined || d.metadata?.name === name));
  if (found.length !== 1)
    throw new Error(`deploy/: want one ${kind}${name ? ` ${name}` : ""}, found ${found.length}`);
  return found[0];
}

export interface Instruction {
  /** Upper-case keyword: FROM, RUN, COPY… */
  op: string;
  args: string;
  line: number;
}

export interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

export interface ImageDefinition {
  /** ARG defaults declared before the first FROM. */
  args: Record<string, string>;
  stages: Stage[];
}

/** Joins continuation lines, drops comments, splits into stages. Enough of the Dockerfile grammar for deploy/. */
export function parseContainerfile(text: string): ImageDefinition {
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i];
    while (line.trimEnd().endsWith("\\") && i + 1 < lines.length) {
      line = `${line.trimEnd().slice(0, -1)} ${lines[++i].trim()}`;
    }
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const [, op, rest] = /^(\S+)\s*(.*)$/.exec(trimmed) ?? [];
    const instruction = { op: op.toUpperCase(), args: rest, line: start + 1 };
    if (instruction.op === "FROM") {
      const [from, as, name] = rest.split(/\s+/);
      stages.push({ from, ...(as?.toUpperCase() === "AS" ? { name } : {}), instructions: [] });
    } else if (stages.length === 0 && instruction.op === "ARG") {
      const [key, value = ""] = rest.split("=");
      args[key] = value;
    } else if (stages.length === 0) {
      throw new Error(`Containerfile line ${start + 1}: ${op} before the first FROM`);
    } else stages[stages.length - 1].instructions.push(instruction);
  }
  return { args, stages };
}

export function readImageDefinition(): ImageDefinition {
  return parseContainerfile(readFileSync(join(deployDir, "Containerfile"), "utf8"));
}

/** The last value of an instruction in a stage (ENTRYPOINT, WORKDIR, USER…), exec form parsed. */
export function lastInstruction(stage: Stage, op: string): string | undefined {
  return stage.instructions.filter((i) => i.op === op).at(-1)?.args;
}
