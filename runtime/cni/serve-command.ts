// `wasmplane cni serve`: the CNI server without the rest of the agent. Prints "ready" on stdout once
// the socket listens; stops on SIGTERM/SIGINT.
import { parseArgs } from "node:util";
import { parsePodCidrs } from "../ipam/range.ts";
import { ipamDeciderFromSpec } from "../ipam/select.ts";
import type { NodeAttachment } from "./node-rules.ts";
import { createNodeRulesApplier } from "./node-rules-applier.ts";
import { type CniServer, startCniServer } from "./server.ts";

export async function serve(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      socket: { type: "string" },
      "state-dir": { type: "string" },
      netns: { type: "string" },
      "pod-cidr": { type: "string", multiple: true },
      mtu: { type: "string" },
      ipam: { type: "string" },
      "plugin-lock": { type: "string" },
      "no-fsync": { type: "boolean" },
      "node-rules": { type: "boolean" },
      "cluster-cidr": { type: "string", multiple: true },
      verbose: { type: "boolean", short: "v" },
    },
  });
  const podCIDRs = values["pod-cidr"] ?? [];
  if (podCIDRs.length === 0) {
    process.stderr.write("cni serve: at least one --pod-cidr is required\n");
    return 2;
  }
  try {
    parsePodCidrs(podCIDRs);
  } catch (err) {
    process.stderr.write(`cni serve: --pod-cidr: ${(err as Error).message}\n`);
    return 2;
  }
  const mtu = values.mtu ? Number(values.mtu) : undefined;
  if (mtu !== undefined && (!Number.isInteger(mtu) || mtu < 576 || mtu > 65535)) {
    process.stderr.write(`cni serve: --mtu ${values.mtu}: want an integer 576-65535` + "\n");
    return 2;
  }
  const ipam = await ipamDeciderFromSpec(values.ipam ?? "range", { lockPath: values["plugin-lock"] });
  let applyRules: ((a: NodeAttachment[]) => Promise<void>) | undefined;
  if (values["node-rules"])
    applyRules = createNodeRulesApplier({
      netns: values.netns,
      podCIDRs,
      clusterCIDRs: values["cluster-cidr"],
    });
  const server: CniServer = await startCniServer({
    onAttachmentsChanged: applyRules ? () => applyRules!(server.attachments()) : undefined,
    socketPath: values.socket,
    stateDir: values["state-dir"],
    nodeNetns: values.netns,
    podCIDRs,
    mtu,
    ipam,
    fsync: !values["no-fsync"],
    log: values.verbose ? (line) => process.stderr.write(`${line}\n`) : undefined,
  });
  if (applyRules) await applyRules(server.attachments());
  process.stdout.write("ready\n");
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  await server.close();
  await ipam.close?.();
  return 0;
}
