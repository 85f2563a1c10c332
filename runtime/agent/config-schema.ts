// The agent config file's top level (camelCase keys, as docs/operator.md lists them), one zod schema.
// The flags are checked by the same schema (runtime/agent/flags.ts); the `lb`, `policy` and `cni`
// sections have their own schemas next to the code that uses them.
import type { z } from "zod";
import { cniSectionSchema } from "../cni/config.ts";
import { checkedRaw, flag, nonEmptyText, oneOf, section, text } from "../config/schema.ts";
import { logFormats, logLevels } from "../log/logger.ts";
import { policySectionSchema } from "../policy/config.ts";
import { apiServerURL, bindAddress, cidrList, duration, ipList, netnsName } from "./config-values.ts";
import { lbSectionSchema } from "./lb-config.ts";

/** Every key is optional: what a key does not give comes from the defaults (`defaultConfig`). */
export const agentFileSchema = section({
  manifests: text().optional(),
  kubernetes: flag().optional(),
  kubeconfig: text().optional(),
  apiServer: apiServerURL.optional(),
  netns: netnsName.optional(),
  nodeName: text().optional(),
  nodeIPs: ipList.optional(),
  /** Alias of nodeIPs. */
  nodeIP: ipList.optional(),
  nodeZone: text().optional(),
  clusterCIDRs: cidrList.optional(),
  /** Alias of clusterCIDRs. */
  clusterCIDR: cidrList.optional(),
  serviceCIDRs: cidrList.optional(),
  /** Alias of serviceCIDRs. */
  serviceCIDR: cidrList.optional(),
  masqueradeAll: flag().optional(),
  minSyncInterval: duration.optional(),
  resyncInterval: duration.optional(),
  statusAddress: text().optional(),
  healthzBindAddress: bindAddress.optional(),
  metricsBindAddress: bindAddress.optional(),
  logFormat: oneOf(logFormats).optional(),
  logLevel: oneOf(logLevels).optional(),
  lockDir: nonEmptyText().optional(),
  lb: lbSectionSchema.optional(),
  /** The Service rule shape (docs/services.md): "maps" (default; plain ClusterIPs as map elements), or "chains". */
  services: section({ shape: oneOf(["chains", "maps"] as const).optional() }).optional(),
  /** Kept as written (the agent parses it again when it starts pod networking), checked here. */
  cni: checkedRaw(cniSectionSchema).optional(),
  policy: policySectionSchema.optional(),
});

export type AgentFile = z.output<typeof agentFileSchema>;
