// The building blocks of the config schemas (zod): leaf values whose errors say what was expected and
// what was given, sections that refuse unknown keys, and the one place a zod error becomes a
// ConfigError naming the section and field ("config agent.yaml: lb.grants.maglev[0]: …").
import { type ZodErrorMap, type ZodIssue, type ZodRawShape, type ZodType, z } from "zod";

/** A bad config file or flag: the message names the file or flag and the field. */
export class ConfigError extends Error {}

export type Path = (string | number)[];

/** Turns a field's path into the text that starts its error, e.g. `config c.yaml: lb.default`. */
export type Locate = (path: Path) => string;

export function show(value: unknown): string {
  return value === undefined ? "nothing" : JSON.stringify(value);
}

/** `lb.grants.maglev[0]`; `root` comes first ("policy" → `policy.enabled`, "--node-ip" → `--node-ip[0]`). */
export function formatPath(path: Path, root = ""): string {
  let out = root;
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? part : `.${part}`;
  }
  return out;
}

/** Errors of a section parsed on its own: `policy.enabled: …`. */
export const under =
  (root: string): Locate =>
  (path) =>
    formatPath(path, root);

/** Every issue of a schema that refuses a value as `<expectation>, got <value>`. */
function expecting(expectation: string): { errorMap: ZodErrorMap } {
  return { errorMap: (_issue, ctx) => ({ message: `${expectation}, got ${show(ctx.data)}` }) };
}

export const text = () => z.string(expecting("must be a string"));

export const nonEmptyText = (expectation = "must be a non-empty string") =>
  z.string(expecting(expectation)).min(1, `${expectation}, got ""`);

export const flag = (expectation = "must be true or false") => z.boolean(expecting(expectation));

export const positiveNumber = () =>
  z.number(expecting("must be a positive number")).superRefine((value, ctx) => {
    if (!(value > 0)) ctx.addIssue({ code: "custom", message: `must be a positive number, got ${value}` });
  });

export const integer = (min: number, max: number) =>
  z.number(expecting(`must be an integer ${min}-${max}`)).superRefine((value, ctx) => {
    if (!Number.isInteger(value) || value < min || value > max)
      ctx.addIssue({ code: "custom", message: `must be an integer ${min}-${max}, got ${value}` });
  });

export const oneOf = <T extends string>(values: readonly [T, ...T[]]) =>
  z.enum(values, expecting(`must be one of ${values.join(", ")}`));

export const list = <T extends ZodType>(item: T, what: string) =>
  z.array(item, expecting(`must be a list of ${what}`));

/** A map of names to values (plugin name → capabilities). */
export const mapOf = <T extends ZodType>(value: T, what: string) =>
  z.record(z.string(), value, expecting(`must be an object of ${what}`));

/**
 * A string checked and normalised by `parse`, which returns null for a bad value; `expectation` is
 * the message then, e.g. "must be an IP address", and for a value that is not a string unless
 * `typeExpectation` says otherwise.
 */
export function parsedText<T>(
  expectation: string,
  parse: (value: string) => T | null,
  typeExpectation = expectation,
) {
  return z.string(expecting(typeExpectation)).transform((value, ctx): T => {
    const parsed = parse(value);
    if (parsed !== null) return parsed;
    ctx.addIssue({ code: "custom", message: `${expectation}, got ${show(value)}` });
    return z.NEVER;
  });
}

/** A config section: an object whose unknown keys are refused, each named with its path. */
export function section<T extends ZodRawShape>(shape: T) {
  return z
    .object(shape, expecting("must be an object"))
    .strict(`unknown option (known: ${Object.keys(shape).join(", ")})`);
}

/** One line per issue, each starting with where it is: `config c.yaml: serviceCIDRs[0]: must be …`. */
export function describeIssues(issues: ZodIssue[], locate: Locate): string {
  return issues
    .flatMap((issue) =>
      issue.code === "unrecognized_keys"
        ? issue.keys.map((key) => `${locate([...issue.path, key])}: ${issue.message}`)
        : [`${locate(issue.path)}: ${issue.message}`],
    )
    .join("\n");
}

/** Parses `raw` with `schema`; a bad value throws a ConfigError naming every bad field. */
export function parseConfig<S extends ZodType>(schema: S, raw: unknown, locate: Locate): z.output<S> {
  const result = schema.safeParse(raw);
  if (!result.success) throw new ConfigError(describeIssues(result.error.issues, locate));
  return result.data;
}

/**
 * Checks a section with `schema` but keeps the raw object (for a section parsed again where it is
 * used, as `cni`); the issues keep their paths inside the section.
 */
export function checkedRaw(schema: ZodType) {
  return z.record(z.string(), z.unknown(), expecting("must be an object")).superRefine((raw, ctx) => {
    const result = schema.safeParse(raw);
    if (!result.success) for (const issue of result.error.issues) ctx.addIssue(issue);
  });
}
