// The upstream NetworkPolicy e2e world in miniature: namespaces x, y, z, each with pods a, b, c
// (labels pod=<name>, namespace label ns=<name>), all on node n1, each serving TCP and UDP on 80
// and 81 under the named ports serve-80-tcp, serve-80-udp, serve-81-tcp, serve-81-udp. Objects go
// through the store as raw manifests, so the tests exercise validation too.
import * as assert from "uvu/assert";
import { decide } from "../../runtime/policy/oracle.ts";
import { evaluatePolicies } from "../../runtime/policy/reference.ts";
import type { PolicyDecision } from "../../runtime/policy/types.ts";
import type { RawObject, SourceEvent, WatchedKind } from "../../runtime/sources/source.ts";
import { objectKey } from "../../runtime/sources/source.ts";
import type { Protocol, Snapshot } from "../../runtime/store/objects.ts";
import { formatProblem } from "../../runtime/store/problems.ts";
import { Store } from "../../runtime/store/store.ts";

export const namespaces = ["x", "y", "z"];
export const podNames = ["a", "b", "c"];
export const allPods = namespaces.flatMap((ns) => podNames.map((p) => `${ns}/${p}`));

export function podIP(key: string): string {
  const [ns, name] = key.split("/");
  return `10.0.${namespaces.indexOf(ns) + 1}.${podNames.indexOf(name) + 1}`;
}

export function podObject(
  key: string,
  extra: { labels?: Record<string, string>; node?: string } = {},
): RawObject {
  const [namespace, name] = key.split("/");
  const ports = [80, 81].flatMap((port) =>
    (["TCP", "UDP"] as const).map((protocol) => ({
      name: `serve-${port}-${protocol.toLowerCase()}`,
      containerPort: port,
      protocol,
    })),
  );
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace, labels: extra.labels ?? { pod: name } },
    spec: { nodeName: extra.node ?? "n1", containers: [{ name: "c", ports }] },
    status: { phase: "Running", podIPs: [{ ip: podIP(key) }] },
  };
}

export function namespaceObject(name: string, labels: Record<string, string> = { ns: name }): RawObject {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name, labels } };
}

export function networkPolicy(namespace: string, name: string, spec: Record<string, unknown>): RawObject {
  return { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { name, namespace }, spec };
}

export function clusterPolicy(name: string, spec: Record<string, unknown>): RawObject {
  return {
    apiVersion: "policy.networking.k8s.io/v1alpha2",
    kind: "ClusterNetworkPolicy",
    metadata: { name },
    spec,
  };
}

export function baseWorld(): RawObject[] {
  return [...namespaces.map((ns) => namespaceObject(ns)), ...allPods.map((key) => podObject(key))];
}

/** A snapshot of these objects; fails the test if the store rejects any of them. */
export function snapshotOf(objects: RawObject[]): Snapshot {
  const store = new Store();
  const events: SourceEvent[] = objects.map((object) => ({
    type: "add",
    kind: object.kind as WatchedKind,
    key: objectKey(object.kind as WatchedKind, object.metadata),
    object,
  }));
  store.apply(events);
  const rejected = store.rejected().flatMap((r) => r.problems.map(formatProblem));
  assert.equal(rejected, [], "the store rejected a fixture object");
  return store.snapshot();
}

/** The decision for the base world plus these objects (node n1). */
export function decisionWith(...objects: RawObject[]): PolicyDecision {
  return evaluatePolicies(snapshotOf([...baseWorld(), ...objects]), { nodeName: "n1" });
}

/** Every (from, to) pod pair as "x/a -> y/b", for the pairs the decision denies. */
export function deniedPairs(decision: PolicyDecision, protocol: Protocol = "TCP", port = 80): string[] {
  const denied: string[] = [];
  for (const from of allPods) {
    for (const to of allPods) {
      if (!decide(decision, { from: podIP(from), to: podIP(to), protocol, port }).allowed) {
        denied.push(`${from} -> ${to}`);
      }
    }
  }
  return denied;
}

/** The pairs the predicate says are denied, in deniedPairs' order (a pod always reaches itself). */
export function expectedDenied(denies: (from: string, to: string) => boolean): string[] {
  const out: string[] = [];
  for (const from of allPods) {
    for (const to of allPods) if (from !== to && denies(from, to)) out.push(`${from} -> ${to}`);
  }
  return out;
}

export const ns = (key: string) => key.split("/")[0];
export const pod = (key: string) => key.split("/")[1];
