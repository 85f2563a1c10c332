// `wasmplane agent`: program Services into nftables from a manifest directory (standalone mode).
import { agentUsage, ConfigError, parseAgentArgs } from "../agent/config.ts";
import { startAgent } from "../agent/run-agent.ts";
import { createLogger, lineFunction } from "../log/logger.ts";

export const summary =
  "run the node agent: services, and pods with a cni: config [--manifests DIR | --kubernetes] …";

export async function run(args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseAgentArgs>;
  try {
    parsed = parseAgentArgs(args);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`wasmplane agent: ${err.message}\n\n${agentUsage}`);
    return 2;
  }
  if (parsed.help) {
    console.log(agentUsage);
    return 0;
  }
  const logger = createLogger({ format: parsed.config.logFormat, level: parsed.config.logLevel });
  // Plain lines from every part are levelled by their prefix ("warning:", "… failed").
  const log = lineFunction(logger);
  const running = await startAgent(parsed.config, log, { logger });
  const c = running.config;
  log(
    `agent started: node ${c.nodeName}${c.netns ? `, netns ${c.netns}` : ""}, node IPs ${c.nodeIPs.join(", ") || "none"}, ` +
      `source ${running.agent.status().source}${running.status ? `, status on ${running.status.address}` : ""}`,
  );
  await new Promise<void>((resolve) => {
    let stopping = false;
    // `on`, not `once`: a repeated signal (tsx relays signals to its child, sometimes twice under
    // load) must not fall through to the default action and kill the agent mid-shutdown.
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      log(`${signal}: stopping; rules stay in place`);
      resolve();
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
    process.on("SIGHUP", () => {
      log("SIGHUP: reloading LB plugins");
      running.agent.reloadPlugins().catch((err: Error) => log(`plugin reload failed: ${err.message}`));
    });
  });
  await running.stop();
  return 0;
}
