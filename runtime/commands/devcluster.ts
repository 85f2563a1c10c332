// `wasmplane devcluster start|stop|status --dir DIR`: a real Kubernetes control plane (etcd and
// kube-apiserver on loopback, built from the Kubernetes Go modules) to run the agent against.
import { parseArgs } from "node:util";
import { ensureBinaries } from "../devcluster/build.ts";
import { clusterProcesses, startCluster, stopCluster } from "../devcluster/cluster.ts";
import { clusterLayout } from "../devcluster/layout.ts";

export const summary = "a local etcd + kube-apiserver to try the agent on (start|stop|status --dir DIR)";

const usage = `usage: wasmplane devcluster start --dir DIR [--service-cidr CIDR] [--apiserver-arg FLAG]...
       wasmplane devcluster stop --dir DIR [--only etcd|kube-apiserver]
       wasmplane devcluster status --dir DIR
       wasmplane devcluster build

start   builds etcd, kube-apiserver and kubectl (first run only; cached), then starts etcd and
        kube-apiserver on 127.0.0.1 with RBAC, certificates and service-account keys under DIR.
        Writes DIR/kubeconfig (admin, group system:masters) and DIR/bin/kubectl. Starting again
        after a stop reuses DIR's ports, certificates and data.
stop    stops kube-apiserver and etcd (or only one of them); removes nothing else.
status  prints which of them run.
build   only builds (or finds in the cache) etcd, kube-apiserver and kubectl; prints their directory.`;

export async function run(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  let values: {
    dir?: string;
    "service-cidr"?: string;
    "apiserver-arg"?: string[];
    only?: string;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        dir: { type: "string" },
        "service-cidr": { type: "string" },
        "apiserver-arg": { type: "string", multiple: true },
        only: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    console.error(`wasmplane devcluster: ${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  if (values.help || action === "help" || action === "--help" || action === "-h") {
    console.log(usage);
    return 0;
  }
  const progress = (line: string) => console.log(line);
  if (action === "build") {
    const built = await ensureBinaries(progress);
    console.log(`${built.compiled ? "built" : "cached"}: ${built.binDir}`);
    return 0;
  }
  if (!values.dir || !["start", "stop", "status"].includes(action ?? "")) {
    console.error(
      `wasmplane devcluster: ${values.dir ? `unknown action ${JSON.stringify(action ?? "")}` : "--dir DIR is required"}\n\n${usage}`,
    );
    return 2;
  }
  if (action === "start") {
    await startCluster(values.dir, {
      progress,
      ...(values["service-cidr"] ? { serviceCIDR: values["service-cidr"] } : {}),
      ...(values["apiserver-arg"] ? { apiserverArgs: values["apiserver-arg"] } : {}),
    });
    const layout = clusterLayout(values.dir);
    console.log(`try: ${layout.kubectl} --kubeconfig ${layout.kubeconfig} get namespaces`);
    return 0;
  }
  if (action === "stop") {
    if (values.only && values.only !== "etcd" && values.only !== "kube-apiserver") {
      console.error(
        `wasmplane devcluster: --only: want etcd or kube-apiserver, got ${JSON.stringify(values.only)}`,
      );
      return 2;
    }
    await stopCluster(
      values.dir,
      progress,
      values.only ? [values.only as "etcd" | "kube-apiserver"] : undefined,
    );
    return 0;
  }
  const running = clusterProcesses(values.dir);
  for (const [name, pid] of Object.entries(running))
    console.log(`${name}: ${pid ? `running (pid ${pid})` : "stopped"}`);
  return Object.values(running).every((p) => p) ? 0 : 1;
}
