// What an ADD asks for beyond the environment: the pod's identity (CNI_ARGS from the kubelet) and
// requested addresses, read from the places the reference plugins read them, plus a pod annotation.
import { CniError, ErrorCode } from "./spec.ts";

/** Pod annotation with requested addresses, comma separated (one per family). */
export const REQUESTED_IPS_ANNOTATION = "ipam.wasmplane.io/ips";

export interface PodIdentity {
  namespace?: string;
  name?: string;
}

export function podIdentity(args: Record<string, string>): PodIdentity {
  return { namespace: args.K8S_POD_NAMESPACE || undefined, name: args.K8S_POD_NAME || undefined };
}

function stripPrefix(ip: string): string {
  const slash = ip.indexOf("/");
  return slash < 0 ? ip : ip.slice(0, slash);
}

function stringList(value: unknown, field: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string"))
    throw new CniError(ErrorCode.invalidConfig, `network configuration: ${field} must be a list of strings`);
  return value as string[];
}

/**
 * Requested addresses, first source wins: runtimeConfig.ips (capability "ips"), args.cni.ips,
 * CNI_ARGS IP= (comma separated, as host-local), then the pod annotation.
 */
export function requestedIPs(
  config: Record<string, unknown>,
  args: Record<string, string>,
  annotations: Record<string, string> | undefined,
): string[] {
  const runtimeConfig = (config.runtimeConfig ?? {}) as Record<string, unknown>;
  const fromRuntime = stringList(runtimeConfig.ips, "runtimeConfig.ips");
  if (fromRuntime.length > 0) return fromRuntime.map(stripPrefix);
  const cniArgs = ((config.args ?? {}) as Record<string, unknown>).cni as Record<string, unknown> | undefined;
  const fromArgs = stringList(cniArgs?.ips, "args.cni.ips");
  if (fromArgs.length > 0) return fromArgs.map(stripPrefix);
  if (args.IP) return args.IP.split(",").map((s) => stripPrefix(s.trim()));
  const annotation = annotations?.[REQUESTED_IPS_ANNOTATION];
  if (annotation) return annotation.split(",").map((s) => stripPrefix(s.trim()));
  return [];
}

export interface ValidAttachment {
  containerId: string;
  ifName: string;
}

/** GC's `cni.dev/valid-attachments`. */
export function validAttachments(config: Record<string, unknown>): ValidAttachment[] {
  const raw = config["cni.dev/valid-attachments"];
  // Without the list, GC would release every allocation: refuse instead.
  if (raw === undefined)
    throw new CniError(ErrorCode.invalidConfig, "network configuration: GC needs cni.dev/valid-attachments");
  if (!Array.isArray(raw))
    throw new CniError(
      ErrorCode.invalidConfig,
      "network configuration: cni.dev/valid-attachments must be a list",
    );
  return raw.map((entry, i) => {
    const e = entry as Record<string, unknown>;
    if (typeof e?.containerID !== "string" || typeof e?.ifname !== "string")
      throw new CniError(
        ErrorCode.invalidConfig,
        `network configuration: cni.dev/valid-attachments[${i}] needs string fields containerID and ifname`,
      );
    return { containerId: e.containerID, ifName: e.ifname };
  });
}
