// `wasmplane config-schema`: print the agent config file's JSON Schema (docs/agent-config.schema.json).
import { agentConfigJsonSchemaText } from "../config/json-schema.ts";

export const summary = "print the JSON Schema of the agent's config file";

export const usage =
  "usage: wasmplane config-schema\n\nPrints the JSON Schema (draft-07) of the file `wasmplane agent --config` reads, made from the\nsame schema the agent checks it with. docs/agent-config.schema.json holds the same text.";

export function run(args: string[]): number {
  if (args.length > 0) {
    console.error(`wasmplane config-schema: takes no arguments, got ${args.join(" ")}\n\n${usage}`);
    return 2;
  }
  process.stdout.write(agentConfigJsonSchemaText());
  return 0;
}
