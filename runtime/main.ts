// The wasmplane command line. Each command lives in runtime/commands/<name>.ts and exports `run`
// (and a one-line `summary`), so commands are added without touching this file.
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

export interface Command {
  summary: string;
  run(args: string[]): Promise<number | undefined> | number | undefined;
}

const commandsDir = fileURLToPath(new URL("./commands/", import.meta.url));

function commandNames(): string[] {
  return readdirSync(commandsDir)
    .filter((f) => f.endsWith(".ts"))
    .map((f) => f.slice(0, -3))
    .sort();
}

async function loadCommand(name: string): Promise<Command> {
  return (await import(new URL(`./commands/${name}.ts`, import.meta.url).href)) as Command;
}

async function usage(): Promise<string> {
  const lines = ["usage: wasmplane <command> [options]", "", "commands:"];
  for (const name of commandNames()) lines.push(`  ${name.padEnd(10)} ${(await loadCommand(name)).summary}`);
  return lines.join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === "help" || name === "--help" || name === "-h") {
    console.log(await usage());
    return name ? 0 : 2;
  }
  if (!commandNames().includes(name)) {
    console.error(`wasmplane: unknown command '${name}'\n\n${await usage()}`);
    return 2;
  }
  return (await (await loadCommand(name)).run(args)) ?? 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`wasmplane: ${err instanceof Error ? err.message : String(err)}`);
    if (process.env.WASMPLANE_DEBUG && err instanceof Error) console.error(err.stack);
    // A command that failed is over, even if something it started still holds the event loop
    // (commands close what they opened, but a leak must not turn a failure into a hang).
    process.exit(1);
  },
);
