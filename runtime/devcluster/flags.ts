// The command lines of etcd and kube-apiserver in a dev cluster: loopback only, as envtest runs
// them, plus what the agent's tests need (RBAC, service-account tokens, a 10.96.0.0/16 range).
import type { ClusterLayout } from "./layout.ts";
import type { Pki } from "./pki.ts";

export interface ClusterState {
  /** k8s.io/kubernetes version the binaries were built from. */
  version: string;
  etcdClientPort: number;
  etcdPeerPort: number;
  apiserverPort: number;
  serviceCIDR: string;
  /** Extra kube-apiserver flags given at the first start, kept for restarts. */
  apiserverExtraArgs: string[];
}

/** Dual-stack, as the agent is: IPv4 first (the `kubernetes` Service gets 10.96.0.1). */
export const defaultServiceCIDR = "10.96.0.0/16,fd00:96::/112";

/** The first host address of the first (IPv4) CIDR: the `kubernetes` Service's ClusterIP. */
export function kubernetesServiceIP(cidrs: string): string {
  const cidr = cidrs.split(",")[0].trim();
  const m = cidr.match(/^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/);
  if (!m)
    throw new Error(`service CIDR ${JSON.stringify(cidr)}: want an IPv4 CIDR first, such as 10.96.0.0/16`);
  const n = ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
  const first = (n + 1) >>> 0;
  return [24, 16, 8, 0].map((s) => (first >>> s) & 255).join(".");
}

export const etcdURL = (state: ClusterState) => `http://127.0.0.1:${state.etcdClientPort}`;
export const apiserverURL = (state: ClusterState) => `https://127.0.0.1:${state.apiserverPort}`;

export function etcdArgs(layout: ClusterLayout, state: ClusterState): string[] {
  const peer = `http://127.0.0.1:${state.etcdPeerPort}`;
  return [
    "--name=devcluster",
    `--data-dir=${layout.etcdData}`,
    `--listen-client-urls=${etcdURL(state)}`,
    `--advertise-client-urls=${etcdURL(state)}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=devcluster=${peer}`,
    // A throwaway cluster: no fsync (envtest does the same); a clean stop still keeps the data.
    "--unsafe-no-fsync=true",
    "--log-level=warn",
  ];
}

export function apiserverArgs(layout: ClusterLayout, state: ClusterState, pki: Pki): string[] {
  return [
    `--etcd-servers=${etcdURL(state)}`,
    "--bind-address=127.0.0.1",
    "--advertise-address=127.0.0.1",
    `--secure-port=${state.apiserverPort}`,
    `--cert-dir=${layout.pki}`,
    `--tls-cert-file=${pki.servingCert}`,
    `--tls-private-key-file=${pki.servingKey}`,
    `--client-ca-file=${pki.caCert}`,
    "--authorization-mode=RBAC",
    // The endpoint reconciler refuses a loopback advertise address; without it the `kubernetes`
    // Service exists but has no endpoints (nothing on this machine could use them anyway).
    "--endpoint-reconciler-type=none",
    `--service-cluster-ip-range=${state.serviceCIDR}`,
    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
    `--service-account-key-file=${pki.serviceAccountPub}`,
    `--service-account-signing-key-file=${pki.serviceAccountKey}`,
    // No controller manager creates each namespace's `default` ServiceAccount, which this
    // admission plugin would require of every pod (envtest disables it for the same reason).
    "--disable-admission-plugins=ServiceAccount",
    // DaemonSets such as deploy/'s run privileged.
    "--allow-privileged=true",
    "--profiling=false",
    ...state.apiserverExtraArgs,
  ];
}
