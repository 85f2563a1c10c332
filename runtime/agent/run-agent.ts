// Runs an agent until SIGTERM/SIGINT: status endpoint up, source watching, syncs flowing. On a signal
// it stops watching and exits, leaving the rules in place so traffic keeps flowing across restarts.
import type { Agent } from "./agent.ts";
import type { AgentConfig } from "./config.ts";
import { acquireAgentLock } from "./lock.ts";
import { type StatusServer, startStatusServer } from "./status-server.ts";
import { createAgent, resolveConfig } from "./wiring.ts";

export interface RunningAgent {
  agent: Agent;
  config: AgentConfig;
  status: StatusServer | null;
  stop(): Promise<void>;
}

export async function startAgent(config: AgentConfig, log: (line: string) => void): Promise<RunningAgent> {
  const resolved = resolveConfig(config);
  const lock = acquireAgentLock(resolved.netns, resolved.lockDir);
  let agent: Agent;
  try {
    agent = await createAgent(resolved, { log });
  } catch (err) {
    lock.release();
    throw err;
  }
  const status = resolved.statusAddress
    ? await startStatusServer(resolved.statusAddress, () => agent.status())
    : null;
  try {
    await agent.start();
  } catch (err) {
    // A start that fails leaves the node's rules as they are and exits: stop everything createAgent
    // started (the resync clock, the CNI server), or the process would linger half-started.
    await agent.stop();
    await status?.close();
    lock.release();
    throw err;
  }
  return {
    agent,
    config: resolved,
    status,
    stop: async () => {
      await agent.stop();
      await status?.close();
      lock.release();
    },
  };
}
