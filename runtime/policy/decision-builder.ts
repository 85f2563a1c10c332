// Collects what the rule compilers produce (per-pod rules by tier, shared sets, problems) and turns
// it into a sorted, deterministic PolicyDecision.
import type { PolicyPod } from "./cluster-view.ts";
import type {
  AddressPort,
  PodDirectionPolicy,
  PolicyDecision,
  PolicyDirection,
  PolicyProblem,
  PolicyRule,
  PolicyTier,
} from "./types.ts";

interface Entry {
  pod: PolicyPod;
  direction: PolicyDirection;
  isolated: boolean;
  selectedBy: Set<string>;
  tiers: Record<PolicyTier, PolicyRule[]>;
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export class DecisionBuilder {
  private readonly entries = new Map<string, Entry>();
  private readonly addressSets = new Map<string, string[]>();
  private readonly addressPortSets = new Map<string, AddressPort[]>();
  private readonly problems: PolicyProblem[] = [];

  entry(pod: PolicyPod, direction: PolicyDirection): Entry {
    const id = `${pod.key} ${direction}`;
    let e = this.entries.get(id);
    if (!e) {
      e = {
        pod,
        direction,
        isolated: false,
        selectedBy: new Set(),
        tiers: { admin: [], networkpolicy: [], baseline: [] },
      };
      this.entries.set(id, e);
    }
    return e;
  }

  /** Registers a shared address set once (the first caller builds it) and returns its id. */
  addressSet(id: string, build: () => string[]): string {
    if (!this.addressSets.has(id)) this.addressSets.set(id, build());
    return id;
  }

  addressPortSet(id: string, build: () => AddressPort[]): string {
    if (!this.addressPortSets.has(id)) this.addressPortSets.set(id, build());
    return id;
  }

  problem(p: PolicyProblem): void {
    this.problems.push(p);
  }

  finish(): PolicyDecision {
    const pods: PodDirectionPolicy[] = [];
    const usedSets = new Set<string>();
    const usedPortSets = new Set<string>();
    const sorted = [...this.entries.values()].sort(
      (a, b) => byText(a.pod.key, b.pod.key) || byText(a.direction, b.direction),
    );
    for (const e of sorted) {
      const rules = [...e.tiers.admin, ...e.tiers.networkpolicy, ...e.tiers.baseline];
      if (rules.length === 0 && !e.isolated) continue;
      for (const r of rules) {
        if (r.peers) usedSets.add(r.peers);
        if (r.addressPorts) usedPortSets.add(r.addressPorts);
      }
      pods.push({
        pod: e.pod.key,
        addresses: [...e.pod.pod.podIPs],
        direction: e.direction,
        isolated: e.isolated,
        selectedBy: [...e.selectedBy].sort(byText),
        rules,
      });
    }
    const pick = <T>(all: Map<string, T>, used: Set<string>) =>
      new Map([...used].sort(byText).map((id) => [id, all.get(id) as T]));
    const problems = [...this.problems].sort(
      (a, b) =>
        byText(a.kind, b.kind) ||
        byText(a.namespace, b.namespace) ||
        byText(a.name, b.name) ||
        byText(a.field, b.field) ||
        byText(a.message, b.message),
    );
    return {
      pods,
      addressSets: pick(this.addressSets, usedSets),
      addressPortSets: pick(this.addressPortSets, usedPortSets),
      problems: problems.filter((p, i) => i === 0 || JSON.stringify(p) !== JSON.stringify(problems[i - 1])),
    };
  }
}
