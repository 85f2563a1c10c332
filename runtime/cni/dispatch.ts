// From a validated request to its answer: each command runs in the server's queue, one at a time;
// an ADD, DEL or GC that changed the node's attachments tells the agent afterwards, outside the
// queue (the agent's sync may call back into the server, which queues behind the current command).
import type { CommandQueue } from "./command-queue.ts";
import {
  type HandlerContext,
  handleAdd,
  handleCheck,
  handleDel,
  handleGc,
  handleStatus,
} from "./handlers.ts";
import type { CniWireResponse } from "./protocol.ts";
import {
  type CniEnvironment,
  CniError,
  type CniResult,
  checkConfigVersion,
  ErrorCode,
  renderResult,
  versionResult,
} from "./spec.ts";
import { validateWireRequest } from "./wire-request.ts";

/** What the dispatcher needs of the server. */
export interface DispatchState {
  ctx: HandlerContext;
  queue: CommandQueue;
  log: (line: string) => void;
  /** False until the agent has read the cluster state (`awaitClusterState`). */
  stateKnown: boolean;
  onAttachmentsChanged?: () => Promise<void> | void;
  /** Told of each command's outcome and latency, errors included (metrics). */
  onCommand?: (command: string, durationMs: number, ok: boolean) => void;
}

interface CommandOutcome {
  output?: Record<string, unknown>;
  /** The node's attachments changed: the agent re-plans its node rules. */
  changed: boolean;
}

export async function dispatch(
  state: DispatchState,
  raw: unknown,
  clientGone: () => boolean,
): Promise<CniWireResponse> {
  let command: string | undefined;
  const started = performance.now();
  try {
    const { env, config } = validateWireRequest(raw);
    if (env.command === "VERSION")
      return { ok: true, output: versionResult(config.cniVersion as string | undefined) };
    command = env.command;
    const version = checkConfigVersion(env.command, config);
    const { output, changed } = await state.queue.run(() =>
      runCommand(state, { env, config, version, clientGone }),
    );
    if (changed) await notifyChanged(state);
    state.log(
      `cni: ${env.command} ${env.containerId} ${env.ifName} ok in ${(performance.now() - started).toFixed(1)} ms`,
    );
    state.onCommand?.(env.command, performance.now() - started, true);
    return output ? { ok: true, output } : { ok: true };
  } catch (err) {
    if (command) state.onCommand?.(command, performance.now() - started, false);
    return errorResponse(state.log, err);
  }
}

interface Command {
  env: CniEnvironment;
  config: Record<string, unknown>;
  /** The version to answer in. */
  version: string;
  clientGone: () => boolean;
}

async function runCommand(state: DispatchState, cmd: Command): Promise<CommandOutcome> {
  const { ctx } = state;
  const { env, config } = cmd;
  checkClientWaiting(cmd.clientGone, env.command);
  switch (env.command) {
    case "ADD":
      checkStateKnown(state, "ADD");
      return { output: renderResult(cmd.version, await addOrRollBack(ctx, cmd)), changed: true };
    case "DEL":
      await handleDel(ctx, env);
      return { changed: true };
    case "CHECK":
      await handleCheck(ctx, env, config);
      return { changed: false };
    case "STATUS":
      checkStateKnown(state, "STATUS");
      handleStatus(ctx);
      return { changed: false };
    case "GC": {
      const { released } = await handleGc(ctx, config);
      if (released.length > 0) state.log(`cni: GC released ${released.join(", ")}`);
      return { changed: released.length > 0 };
    }
    default:
      throw new CniError(ErrorCode.invalidEnvironment, `CNI_COMMAND: unknown command '${env.command}'`);
  }
}

/** A command for which the client is gone is not carried out: the runtime saw it fail. */
function checkClientWaiting(clientGone: () => boolean, command: string): void {
  if (clientGone())
    throw new CniError(
      ErrorCode.tryAgainLater,
      `${command}: the caller gave up before it ran; not carried out`,
    );
}

function checkStateKnown(state: DispatchState, command: string): void {
  if (!state.stateKnown)
    throw new CniError(
      ErrorCode.tryAgainLater,
      `${command}: the agent has not read the cluster state yet (pod CIDRs unknown); try again later`,
    );
}

/** An ADD whose caller left while it ran is undone, so no veth or address outlives a failed call. */
async function addOrRollBack(ctx: HandlerContext, cmd: Command): Promise<CniResult> {
  const result = await handleAdd(ctx, cmd.env, cmd.config);
  if (!cmd.clientGone()) return result;
  await handleDel(ctx, cmd.env);
  throw new CniError(
    ErrorCode.tryAgainLater,
    `ADD ${cmd.env.containerId}: the caller gave up while it ran; rolled back`,
  );
}

async function notifyChanged(state: DispatchState): Promise<void> {
  try {
    await state.onAttachmentsChanged?.();
  } catch (err) {
    state.log(`cni: updating node rules after an attachment change failed: ${(err as Error).message}`);
  }
}

function errorResponse(log: (line: string) => void, err: unknown): CniWireResponse {
  const e =
    err instanceof CniError ? err : new CniError(ErrorCode.ioFailure, (err as Error)?.message ?? String(err));
  log(`cni: error ${e.code}: ${e.message}`);
  return { ok: false, error: { code: e.code, msg: e.message, ...(e.details ? { details: e.details } : {}) } };
}
