// The wasmplane command line. Each command lives in runtime/commands/<name>.ts and exports `run`
// (and a one-line `summary`), so commands are added without touching this file.
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { packageVersion } from "./status-page/version.ts";

export interface Command {
  summary: string;
  /** Printed for `--help`/`-h` without running the command; commands without it handle --help in run. */
  usage?: string;
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
  const lines = [
    "usage: wasmplane <command> [options]   (wasmplane --version, wasmplane <command> --help)",
    "",
    "commands:",
  ];
  for (const name of commandNames()) lines.push(`  ${name.padEnd(10)} ${(await loadCommand(name)).summary}`);
  return lines.join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === "help" || name === "--help" || name === "-h") {
    console.log(await usage());
    return name ? 0 : 2;
  }
  if (name === "--version" || name === "-V" || name === "version") {
    console.log(`wasmplane ${packageVersion()}`);
    return 0;
  }
  if (!commandNames().includes(name)) {
    console.error(`wasmplane: unknown command '${name}'\n\n${await usage()}`);
    return 2;
  }
  const command = await loadCommand(name);
  const options = args.includes("--") ? args.slice(0, args.indexOf("--")) : args;
  if (command.usage && (options.includes("--help") || options.includes("-h"))) {
    console.log(command.usage);
    return 0;
  }
  return (await command.run(args)) ?? 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // A command that returned is over. The agent closes what it opened on SIGTERM, but a socket the
    // Kubernetes client keeps alive (a request in flight when the watch was aborted) must not keep
    // the process running: give pending I/O a moment, then exit.
    setTimeout(() => process.exit(), 500).unref();
  },
  (err: unknown) => {
    console.error(`wasmplane: ${err instanceof Error ? err.message : String(err)}`);
    if (process.env.WASMPLANE_DEBUG && err instanceof Error) console.error(err.stack);
    // A command that failed is over, even if something it started still holds the event loop
    // (commands close what they opened, but a leak must not turn a failure into a hang).
    process.exit(1);
  },
);
