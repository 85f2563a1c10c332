// The decision used when no policy decider has answered yet (a Wasm plugin that traps, times out or
// answers garbage on its first call): every local pod that some policy selects is isolated in each
// direction that policy covers, with no rule allowing anything. Status says why.
import type { Snapshot } from "../store/objects.ts";
import { buildClusterView, type PolicyPod, selectLocalPods } from "./cluster-view.ts";
import { subjectPods } from "./clusternetworkpolicy-rules.ts";
import type { PodDirectionPolicy, PolicyDecision, PolicyDirection } from "./types.ts";

export function failClosedDecision(snapshot: Snapshot, nodeName: string): PolicyDecision {
  const view = buildClusterView(snapshot, nodeName);
  const isolated = new Map<string, { pod: PolicyPod; directions: Set<PolicyDirection>; by: Set<string> }>();
  const mark = (pods: PolicyPod[], directions: PolicyDirection[], by: string) => {
    for (const pod of pods) {
      const entry = isolated.get(pod.key) ?? { pod, directions: new Set(), by: new Set() };
      for (const d of directions) entry.directions.add(d);
      entry.by.add(by);
      isolated.set(pod.key, entry);
    }
  };
  for (const np of snapshot.networkPolicies?.values() ?? []) {
    const directions = np.policyTypes.map((t): PolicyDirection => (t === "Ingress" ? "ingress" : "egress"));
    mark(
      selectLocalPods(view, np.namespace, np.podSelector),
      directions,
      `NetworkPolicy ${np.namespace}/${np.name}`,
    );
  }
  for (const cnp of snapshot.clusterNetworkPolicies?.values() ?? []) {
    const directions: PolicyDirection[] = [];
    if (cnp.ingress.length > 0) directions.push("ingress");
    if (cnp.egress.length > 0) directions.push("egress");
    mark(subjectPods(view, cnp), directions, `ClusterNetworkPolicy ${cnp.name}`);
  }
  const pods: PodDirectionPolicy[] = [];
  for (const [key, entry] of [...isolated].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    for (const direction of ["egress", "ingress"] as const) {
      if (!entry.directions.has(direction)) continue;
      pods.push({
        pod: key,
        addresses: [...entry.pod.pod.podIPs],
        direction,
        isolated: true,
        selectedBy: [...entry.by].sort(),
        rules: [],
      });
    }
  }
  return { pods, addressSets: new Map(), addressPortSets: new Map(), problems: [] };
}
