// The agent config's JSON Schema (runtime/config/json-schema.ts): the committed file is what the
// command prints, it knows exactly the keys the agent's own schema knows (sections closed to
// unknown keys), and the shipped ConfigMap's config uses only keys it lists.
import { readFileSync } from "node:fs";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { parse } from "yaml";
import { agentFileSchema } from "../../runtime/agent/config-schema.ts";
import { agentConfigJsonSchema, agentConfigJsonSchemaText } from "../../runtime/config/json-schema.ts";
import { runWasmplane } from "./process-support.ts";

const test = suite("config: JSON Schema");

interface JsonSchemaObject {
  type?: string;
  properties?: Record<string, JsonSchemaObject>;
  additionalProperties?: boolean | JsonSchemaObject;
}

const committed = () => readFileSync(new URL("../../docs/agent-config.schema.json", import.meta.url), "utf8");

test("docs/agent-config.schema.json is what `wasmplane config-schema` prints", () => {
  const printed = runWasmplane(["config-schema"]);
  assert.is(printed, agentConfigJsonSchemaText());
  assert.is(
    committed(),
    printed,
    "regenerate: npx tsx runtime/main.ts config-schema > docs/agent-config.schema.json",
  );
});

test("the schema lists exactly the agent's keys, and every section refuses unknown ones", () => {
  const schema = agentConfigJsonSchema() as JsonSchemaObject;
  assert.equal(Object.keys(schema.properties ?? {}).sort(), Object.keys(agentFileSchema.shape).sort());
  assert.is(schema.additionalProperties, false);
  for (const name of ["lb", "policy", "cni", "services"]) {
    const section = schema.properties?.[name];
    assert.is(section?.type, "object", name);
    assert.is(section?.additionalProperties, false, `${name} refuses unknown keys`);
  }
  assert.equal(schema.properties?.logLevel, { type: "string", enum: ["debug", "info", "warn", "error"] });
});

test("the shipped ConfigMap's config uses only keys the schema lists", () => {
  const map = parse(readFileSync(new URL("../../deploy/agent-config.yaml", import.meta.url), "utf8"));
  const config = parse(map.data["config.yaml"]) as Record<string, unknown>;
  const schema = agentConfigJsonSchema() as JsonSchemaObject;
  const unknown = (value: unknown, at: JsonSchemaObject | undefined, path: string): string[] => {
    if (!at?.properties || typeof value !== "object" || value === null || Array.isArray(value)) return [];
    return Object.entries(value).flatMap(([k, v]) =>
      at.properties?.[k] ? unknown(v, at.properties[k], `${path}${k}.`) : [`${path}${k}`],
    );
  };
  assert.ok(Object.keys(config).length > 3, "the ConfigMap holds a config");
  assert.equal(unknown(config, schema, ""), []);
});

test.run();
