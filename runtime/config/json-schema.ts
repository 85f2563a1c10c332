// The agent config file as a JSON Schema (draft-07), made from the same zod schema that checks it
// (runtime/agent/config-schema.ts), so an editor or a CI step can check a config before the agent
// sees it. Values the agent parses from text (durations such as "30s") are open in the JSON
// Schema; the agent's own check stays the authority.
import type { ZodType } from "zod";
import { zodToJsonSchema } from "zod-to-json-schema";
import { agentFileSchema } from "../agent/config-schema.ts";
import { cniSectionSchema } from "../cni/config.ts";

export const CONFIG_SCHEMA_ID = "https://wasmplane.dev/schemas/agent-config.json";

type JsonSchema = Record<string, unknown> & { properties?: Record<string, unknown> };

function convert(schema: ZodType): JsonSchema {
  const { $schema: _, ...rest } = zodToJsonSchema(schema, { $refStrategy: "none", target: "jsonSchema7" });
  return rest as JsonSchema;
}

export function agentConfigJsonSchema(): Record<string, unknown> {
  const schema = convert(agentFileSchema);
  // The agent keeps the cni section as written and checks it with the CNI server's own schema.
  const properties = { ...schema.properties, cni: convert(cniSectionSchema) };
  return {
    $schema: "http://json-schema.org/draft-07/schema#",
    $id: CONFIG_SCHEMA_ID,
    title: "wasmplane agent config (the file given to `wasmplane agent --config`)",
    ...schema,
    properties,
  };
}

/** The schema as the committed file holds it (docs/agent-config.schema.json). */
export function agentConfigJsonSchemaText(): string {
  return `${JSON.stringify(agentConfigJsonSchema(), null, 2)}\n`;
}
