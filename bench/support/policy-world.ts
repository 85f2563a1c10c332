// The cluster bench/policy.ts measures, as raw manifests for the store (so validation is part of the
// picture, as in the agent): NAMESPACES namespaces, pods spread over them and over NODES nodes (the
// first `localPods` on this node), and NetworkPolicies of the shapes people write, in a fixed
// rotation (no randomness: every run builds the same world).
//
//   pods        labels app (one of APPS), tier (web/api/db), version; container ports http 8080/TCP,
//               metrics 9090/TCP, dns 53/UDP; one IPv4 address in the pod CIDR of its node
//               (10.128+n.0.0/16 for node n, this node is node 0)
//   policies    per namespace, in rotation: ingress from same-namespace pods by app (port 8080);
//               ingress from pods of other teams' namespaces (namespaceSelector AND podSelector,
//               named port http); ingress from an ipBlock with excepts; egress to pods by app (UDP 53)
//               and to pods by a matchExpression (named port metrics); a default deny; ingress from
//               pods NotIn some versions on a port range
//
// No module-level state: everything is a function of its arguments.
import type { RawObject, SourceEvent, WatchedKind } from "../../runtime/sources/source.ts";
import { objectKey } from "../../runtime/sources/source.ts";

export const NODE = "node-0";
export const APPS = 20;
const TIERS = ["web", "api", "db"];
const TEAMS = 10;

export interface WorldSize {
  namespaces: number;
  pods: number;
  localPods: number;
  /** Other nodes the remote pods are spread over. */
  nodes: number;
  policies: number;
  /**
   * Every policy selects one of this node's pods (its podSelector is a local pod's app); otherwise
   * policies select apps across the cluster and about one in ten selects a local pod.
   */
  dense: boolean;
  /** ipBlock peers carry an `except` (default); false: the bare CIDR (a what-if, see bench/policy.ts). */
  ipBlockExcept?: boolean;
}

export const namespaceName = (i: number) => `ns-${String(i).padStart(2, "0")}`;

/** Pod i: its node index (0 is this node) and address. Local pods are the first `localPods`. */
export function podPlacement(i: number, size: WorldSize): { node: number; ip: string } {
  const node = i < size.localPods ? 0 : 1 + (i % size.nodes);
  const host = i + 1;
  return { node, ip: `10.${128 + node}.${(host >> 8) & 255}.${host & 255}` };
}

/** Pod i's app: every app occurs in every namespace (pods of a namespace are i, i + namespaces, …). */
export const appOf = (i: number, size: WorldSize) => (i + Math.floor(i / size.namespaces)) % APPS;

export function podLabels(i: number, size: WorldSize, app = appOf(i, size)): Record<string, string> {
  return { app: `app-${app}`, tier: TIERS[i % TIERS.length], version: `v${i % 4}` };
}

export function podObject(i: number, size: WorldSize, labels = podLabels(i, size)): RawObject {
  const { node, ip } = podPlacement(i, size);
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: `p-${i}`, namespace: namespaceName(i % size.namespaces), uid: `uid-${i}`, labels },
    spec: {
      nodeName: `node-${node}`,
      containers: [
        {
          name: "main",
          ports: [
            { name: "http", containerPort: 8080, protocol: "TCP" },
            { name: "metrics", containerPort: 9090, protocol: "TCP" },
            { name: "dns", containerPort: 53, protocol: "UDP" },
          ],
        },
      ],
    },
    status: { phase: "Running", podIP: ip, podIPs: [{ ip }] },
  };
}

function namespaceObject(i: number): RawObject {
  const name = namespaceName(i);
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: {
      name,
      labels: {
        "kubernetes.io/metadata.name": name,
        team: `team-${i % TEAMS}`,
        env: i % 3 === 0 ? "dev" : "prod",
      },
    },
  };
}

const app = (k: number) => ({ matchLabels: { app: `app-${((k % APPS) + APPS) % APPS}` } });

/**
 * The spec of policy number k of namespace j: one of the shapes in the header, in rotation. Its
 * podSelector picks app k, or in a dense world the app of one of the namespace's local pods.
 */
function policySpec(k: number, j: number, size: WorldSize): Record<string, unknown> {
  const localPod = j + size.namespaces * (k % Math.max(1, Math.ceil(size.localPods / size.namespaces)));
  const selector = size.dense ? app(appOf(localPod, size)) : app(k);
  switch (k % 7) {
    case 0:
      return {
        podSelector: selector,
        ingress: [{ from: [{ podSelector: app(k + 1) }], ports: [{ port: 8080 }] }],
      };
    case 1:
      return {
        podSelector: selector,
        ingress: [
          {
            from: [
              {
                namespaceSelector: { matchLabels: { team: `team-${(j + k) % TEAMS}` } },
                podSelector: { matchLabels: { tier: TIERS[k % TIERS.length] } },
              },
            ],
            ports: [{ port: "http" }],
          },
        ],
      };
    case 2:
      return {
        podSelector: selector,
        ingress: [
          {
            from: [
              {
                ipBlock: {
                  cidr: "10.128.0.0/9",
                  except: size.ipBlockExcept === false ? [] : [`10.${129 + (k % 40)}.0.0/16`],
                },
              },
            ],
            ports: [{ port: 9090 }],
          },
        ],
      };
    case 3:
      return {
        podSelector: selector,
        policyTypes: ["Ingress", "Egress"],
        ingress: [
          { from: [{ namespaceSelector: { matchLabels: { env: "prod" } }, podSelector: app(k + 2) }] },
        ],
        egress: [{ to: [{ podSelector: app(k + 3) }], ports: [{ protocol: "UDP", port: 53 }] }],
      };
    case 4:
      return {
        podSelector: selector,
        policyTypes: ["Egress"],
        egress: [
          {
            to: [
              {
                podSelector: {
                  matchExpressions: [{ key: "tier", operator: "In", values: ["api", "db"] }],
                  matchLabels: app(k + 4).matchLabels,
                },
              },
            ],
            ports: [{ port: "metrics" }],
          },
        ],
      };
    case 5:
      return k % 70 === 5 ? { podSelector: {}, policyTypes: ["Ingress"] } : { podSelector: selector };
    default:
      return {
        podSelector: selector,
        ingress: [
          {
            from: [
              { podSelector: { matchExpressions: [{ key: "version", operator: "NotIn", values: ["v0"] }] } },
            ],
            ports: [{ port: 8000, endPort: 8100 }],
          },
        ],
      };
  }
}

export function policyObject(namespace: string, name: string, spec: Record<string, unknown>): RawObject {
  return { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { namespace, name }, spec };
}

/** The `count` rotated policies, spread evenly over the namespaces. */
export function worldPolicies(size: WorldSize, count = size.policies): RawObject[] {
  const out: RawObject[] = [];
  for (let k = 0; k < count; k++) {
    const j = k % size.namespaces;
    out.push(
      policyObject(namespaceName(j), `pol-${k}`, policySpec(Math.floor(k / size.namespaces) + j, j, size)),
    );
  }
  return out;
}

function nodeObject(n: number): RawObject {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: `node-${n}` },
    spec: { podCIDR: `10.${128 + n}.0.0/16`, podCIDRs: [`10.${128 + n}.0.0/16`] },
    status: { addresses: [{ type: "InternalIP", address: `192.168.${n >> 8}.${(n & 255) + 1}` }] },
  };
}

/** Every object of the world except the policies. */
export function worldObjects(size: WorldSize): RawObject[] {
  return [
    ...Array.from({ length: size.nodes + 1 }, (_, n) => nodeObject(n)),
    ...Array.from({ length: size.namespaces }, (_, i) => namespaceObject(i)),
    ...Array.from({ length: size.pods }, (_, i) => podObject(i, size)),
  ];
}

/** Source events for the store: `add` for the initial listing, `update` for a change. */
export function sourceEvents(objects: RawObject[], type: "add" | "update" = "add"): SourceEvent[] {
  return objects.map((object) => ({
    type,
    kind: object.kind as WatchedKind,
    key: objectKey(object.kind as WatchedKind, object.metadata),
    object,
  }));
}
