// Typed readers over raw JSON that record a problem (with the field path) instead of throwing, so one
// pass reports every bad field of an object.
import { type ParsedCIDR, type ParsedIP, parseCIDR, parseIP } from "./ip.ts";
import { type ObjectProblem, show } from "./problems.ts";

export type Json = unknown;

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export class FieldReader {
  readonly problems: ObjectProblem[] = [];
  constructor(
    readonly kind: string,
    readonly namespace: string,
    readonly name: string,
  ) {}

  fail(field: string, message: string): void {
    this.problems.push({ kind: this.kind, namespace: this.namespace, name: this.name, field, message });
  }

  get ok(): boolean {
    return this.problems.length === 0;
  }

  record(value: Json, field: string): Record<string, unknown> {
    if (value === undefined || value === null) return {};
    if (!isRecord(value)) {
      this.fail(field, `must be an object, got ${show(value)}`);
      return {};
    }
    return value;
  }

  array(value: Json, field: string): Json[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      this.fail(field, `must be a list, got ${show(value)}`);
      return [];
    }
    return value;
  }

  string(value: Json, field: string, fallback = ""): string {
    if (value === undefined || value === null) return fallback;
    if (typeof value !== "string") {
      this.fail(field, `must be a string, got ${show(value)}`);
      return fallback;
    }
    return value;
  }

  boolean(value: Json, field: string, fallback: boolean): boolean {
    if (value === undefined || value === null) return fallback;
    if (typeof value !== "boolean") {
      this.fail(field, `must be true or false, got ${show(value)}`);
      return fallback;
    }
    return value;
  }

  oneOf<T extends string>(value: Json, field: string, allowed: readonly T[], fallback: T): T {
    if (value === undefined || value === null || value === "") return fallback;
    if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
      this.fail(field, `must be one of ${allowed.join(", ")}, got ${show(value)}`);
      return fallback;
    }
    return value as T;
  }

  /** An integer in [min, max]; `fallback` when absent. */
  integer(value: Json, field: string, min: number, max: number, fallback: number): number {
    if (value === undefined || value === null) return fallback;
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      this.fail(field, `must be ${min}-${max}, got ${show(value)}`);
      return fallback;
    }
    return value;
  }

  ip(value: Json, field: string): ParsedIP | null {
    const text = this.string(value, field);
    const ip = parseIP(text);
    if (!ip) this.fail(field, `must be an IP address, got ${show(value)}`);
    return ip;
  }

  cidr(value: Json, field: string): ParsedCIDR | null {
    const text = this.string(value, field);
    const cidr = parseCIDR(text);
    if (!cidr) this.fail(field, `must be a CIDR such as 10.0.0.0/8 or fd00::/64, got ${show(value)}`);
    return cidr;
  }

  /** Records a problem for every key of `object` not in `known` (API fields this code does not implement). */
  onlyKnownFields(object: Record<string, unknown>, field: string, known: readonly string[]): void {
    for (const key of Object.keys(object)) {
      if (!known.includes(key)) {
        this.fail(
          /^[A-Za-z][A-Za-z0-9]*$/.test(key)
            ? field
              ? `${field}.${key}`
              : key
            : `${field}[${JSON.stringify(key)}]`,
          `unknown or unsupported field; supported: ${known.join(", ")}`,
        );
      }
    }
  }

  stringMap(value: Json, field: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.record(value, field))) {
      if (typeof v !== "string") this.fail(`${field}[${mapKey(k)}]`, `must be a string, got ${show(v)}`);
      else out[k] = v;
    }
    return out;
  }
}

/** A map key in a field path: bare when it reads unambiguously ("app", "kubernetes.io/name"), else quoted. */
function mapKey(key: string): string {
  return key !== "" && !/[[\]\s"]/.test(key) ? key : JSON.stringify(key);
}

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const ianaServiceName = /^(?=.*[a-z])[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

export function isDnsLabel(name: string): boolean {
  return name.length <= 63 && dns1123Label.test(name);
}

export function isDnsSubdomain(name: string): boolean {
  return name.length <= 253 && dns1123Subdomain.test(name);
}

/** A named port: at most 15 characters, letters digits and inner dashes, at least one letter. */
export function isPortName(name: string): boolean {
  return name.length <= 15 && ianaServiceName.test(name) && !name.includes("--");
}
