// Validation of a request that arrived on the agent's socket. The executable checked the same
// rules, but a client of the socket need not be the executable.
import type { CniWireRequest } from "./protocol.ts";
import {
  type CniEnvironment,
  CniError,
  checkContainerId,
  checkInterfaceName,
  checkNetnsPath,
  ErrorCode,
  REQUIRED_ENV,
} from "./spec.ts";

const STRING_FIELDS = ["command", "containerId", "netns", "ifName", "path"] as const;

export function validateWireRequest(raw: unknown): CniWireRequest {
  const req = raw as CniWireRequest;
  const env = req?.env as CniEnvironment | undefined;
  if (!env || typeof env !== "object" || typeof req.config !== "object" || req.config === null)
    throw new CniError(ErrorCode.decodeFailure, "request: want {env, config}");
  for (const field of STRING_FIELDS)
    if (typeof env[field] !== "string")
      throw new CniError(ErrorCode.decodeFailure, `request: env.${field} must be a string`);
  if (typeof env.args !== "object" || env.args === null)
    throw new CniError(ErrorCode.decodeFailure, "request: env.args must be an object");
  for (const field of Object.hasOwn(REQUIRED_ENV, env.command) ? REQUIRED_ENV[env.command] : [])
    if (!env[field])
      throw new CniError(ErrorCode.invalidEnvironment, `request: ${env.command} needs env.${field}`);
  if (env.containerId) checkContainerId(env.containerId);
  if (env.ifName) checkInterfaceName(env.ifName);
  if (env.netns) checkNetnsPath(env.netns);
  return req;
}
