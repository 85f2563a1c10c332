// Collects what the rule compilers produce (per-pod rules by tier, shared sets, problems) and turns
// it into a sorted, deterministic PolicyDecision. Each set keeps its recipe: how to build it again
// and the pod queries it read, so a pod change elsewhere in the cluster rebuilds only the sets whose
// queries pick the pod (incremental.ts).
import { type ClusterView, type PodQuery, type PolicyPod, recordingReads } from "./cluster-view.ts";
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

/** How a set of the decision is built, and which pod queries its contents read. */
export interface SetRecipe<E> {
  build: () => E[];
  reads: PodQuery[];
}

export interface SetRecipes {
  addressSets: Map<string, SetRecipe<string>>;
  addressPortSets: Map<string, SetRecipe<AddressPort>>;
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export class DecisionBuilder {
  private readonly entries = new Map<string, Entry>();
  private readonly addressSets = new Map<string, string[]>();
  private readonly addressPortSets = new Map<string, AddressPort[]>();
  private readonly problems: PolicyProblem[] = [];
  /** Recipes of every set registered; `finish` keeps those of the sets a rule uses. */
  readonly recipes: SetRecipes = { addressSets: new Map(), addressPortSets: new Map() };

  /**
   * `known`: sets already built for the view as it is now (a decision kept up to date), taken as
   * they are instead of built again; no recipe is recorded for them.
   */
  constructor(
    private readonly view: ClusterView,
    private readonly known?: Pick<PolicyDecision, "addressSets" | "addressPortSets">,
  ) {}

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
    if (!this.addressSets.has(id))
      this.addressSets.set(
        id,
        this.known?.addressSets.get(id) ?? this.record(this.recipes.addressSets, id, build),
      );
    return id;
  }

  addressPortSet(id: string, build: () => AddressPort[]): string {
    if (!this.addressPortSets.has(id))
      this.addressPortSets.set(
        id,
        this.known?.addressPortSets.get(id) ?? this.record(this.recipes.addressPortSets, id, build),
      );
    return id;
  }

  private record<E>(recipes: Map<string, SetRecipe<E>>, id: string, build: () => E[]): E[] {
    const { value, reads } = recordingReads(this.view, build);
    recipes.set(id, { build, reads });
    return value;
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
