// Applies peer-route plans in the node's namespace and remembers the last one, so the next apply
// removes what is no longer wanted.
import { type NodeShell, runNodeScript } from "./netexec.ts";
import { type PeerRoutesPlan, peerRoutesBatch } from "./peer-routes.ts";

function heredoc(command: string, lines: string[], after = ""): string {
  return `${command} <<'WASMPLANE_EOF'${after}\n${lines.join("\n")}\nWASMPLANE_EOF`;
}

export class PeerRouter {
  private applied: PeerRoutesPlan | undefined;

  constructor(private readonly shell: NodeShell) {}

  async apply(plan: PeerRoutesPlan): Promise<void> {
    const batch = peerRoutesBatch(plan, this.applied);
    const script = ["set -e"];
    // A first apply (agent start) replaces a VXLAN device left by the last run.
    if (!this.applied && plan.vxlan)
      script.push(
        `if [ -e /proc/sys/net/ipv4/conf/${plan.vxlan.device} ]; then ip link del ${plan.vxlan.device}; fi`,
      );
    // Removals may find things already gone: keep going past errors there.
    if (batch.remove.length > 0)
      script.push(heredoc("ip -force -batch - >/dev/null 2>&1", batch.remove, " || true"));
    if (batch.fdbRemove.length > 0)
      script.push(heredoc("bridge -force -batch - >/dev/null 2>&1", batch.fdbRemove, " || true"));
    if (batch.links.length > 0) script.push(heredoc("ip -batch -", batch.links));
    if (batch.fdb.length > 0) script.push(heredoc("bridge -batch -", batch.fdb));
    if (batch.routes.length > 0) script.push(heredoc("ip -batch -", batch.routes));
    await runNodeScript(this.shell, script.join("\n"), "applying peer routes");
    this.applied = plan;
  }
}
