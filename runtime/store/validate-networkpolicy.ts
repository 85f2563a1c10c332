// NetworkPolicy validation and normalisation (networking.k8s.io/v1).
import { type FieldReader, isPortName, type Json } from "./fields.ts";
import type {
  LabelSelector,
  LabelSelectorRequirement,
  NetworkPolicy,
  NetworkPolicyPeer,
  NetworkPolicyPort,
  NetworkPolicyRule,
} from "./objects.ts";
import { show } from "./problems.ts";
import type { Validated } from "./validated.ts";

const operators = ["In", "NotIn", "Exists", "DoesNotExist"] as const;

/** A metav1.LabelSelector; absent or empty selects everything. */
export function readSelector(value: Json, field: string, r: FieldReader): LabelSelector {
  const s = r.record(value, field);
  const matchExpressions: LabelSelectorRequirement[] = [];
  r.array(s.matchExpressions, `${field}.matchExpressions`).forEach((v, i) => {
    const f = `${field}.matchExpressions[${i}]`;
    const e = r.record(v, f);
    const key = r.string(e.key, `${f}.key`);
    if (key === "") r.fail(`${f}.key`, "required");
    const operator = r.oneOf(e.operator, `${f}.operator`, operators, "Exists");
    if (e.operator === undefined) r.fail(`${f}.operator`, `required: one of ${operators.join(", ")}`);
    const values = r.array(e.values, `${f}.values`).map((x, j) => r.string(x, `${f}.values[${j}]`));
    if ((operator === "In" || operator === "NotIn") && values.length === 0) {
      r.fail(`${f}.values`, `must not be empty for operator ${operator}`);
    }
    if ((operator === "Exists" || operator === "DoesNotExist") && values.length > 0) {
      r.fail(`${f}.values`, `must be empty for operator ${operator}`);
    }
    matchExpressions.push({ key, operator, values });
  });
  return { matchLabels: r.stringMap(s.matchLabels, `${field}.matchLabels`), matchExpressions };
}

function readPeer(value: Json, field: string, r: FieldReader): NetworkPolicyPeer {
  const p = r.record(value, field);
  const peer: NetworkPolicyPeer = {};
  if (p.podSelector !== undefined) peer.podSelector = readSelector(p.podSelector, `${field}.podSelector`, r);
  if (p.namespaceSelector !== undefined) {
    peer.namespaceSelector = readSelector(p.namespaceSelector, `${field}.namespaceSelector`, r);
  }
  if (p.ipBlock !== undefined) {
    if (peer.podSelector || peer.namespaceSelector) {
      r.fail(`${field}.ipBlock`, "may not be combined with podSelector or namespaceSelector");
    }
    const b = r.record(p.ipBlock, `${field}.ipBlock`);
    const cidr = r.cidr(b.cidr, `${field}.ipBlock.cidr`);
    const except: string[] = [];
    r.array(b.except, `${field}.ipBlock.except`).forEach((v, i) => {
      const e = r.cidr(v, `${field}.ipBlock.except[${i}]`);
      if (e && cidr && (e.family !== cidr.family || e.prefix <= cidr.prefix)) {
        r.fail(`${field}.ipBlock.except[${i}]`, `must be inside ${cidr.text}, got ${show(v)}`);
      } else if (e) except.push(e.text);
    });
    if (cidr) peer.ipBlock = { cidr: cidr.text, except };
  }
  if (!peer.podSelector && !peer.namespaceSelector && !p.ipBlock) {
    r.fail(field, "must set podSelector, namespaceSelector or ipBlock");
  }
  return peer;
}

function readPort(value: Json, field: string, r: FieldReader): NetworkPolicyPort {
  const p = r.record(value, field);
  const port: NetworkPolicyPort = {
    protocol: r.oneOf(p.protocol, `${field}.protocol`, ["TCP", "UDP", "SCTP"] as const, "TCP"),
  };
  if (typeof p.port === "string") {
    if (!isPortName(p.port)) r.fail(`${field}.port`, `must be a port number or name, got ${show(p.port)}`);
    port.port = p.port;
  } else if (p.port !== undefined && p.port !== null) {
    port.port = r.integer(p.port, `${field}.port`, 1, 65535, 0);
  }
  if (p.endPort !== undefined && p.endPort !== null) {
    const endPort = r.integer(p.endPort, `${field}.endPort`, 1, 65535, 0);
    if (typeof port.port !== "number") r.fail(`${field}.endPort`, "needs a numeric port");
    else if (endPort < port.port) r.fail(`${field}.endPort`, `must be >= port ${port.port}, got ${endPort}`);
    else port.endPort = endPort;
  }
  return port;
}

function readRules(
  value: Json,
  field: string,
  peersField: "from" | "to",
  r: FieldReader,
): NetworkPolicyRule[] {
  return r.array(value, field).map((v, i) => {
    const rule = r.record(v, `${field}[${i}]`);
    return {
      peers: r
        .array(rule[peersField], `${field}[${i}].${peersField}`)
        .map((p, j) => readPeer(p, `${field}[${i}].${peersField}[${j}]`, r)),
      ports: r
        .array(rule.ports, `${field}[${i}].ports`)
        .map((p, j) => readPort(p, `${field}[${i}].ports[${j}]`, r)),
    };
  });
}

export function validateNetworkPolicy(raw: Record<string, Json>, r: FieldReader): Validated<NetworkPolicy> {
  const spec = r.record(raw.spec, "spec");
  const podSelector = readSelector(spec.podSelector, "spec.podSelector", r);
  const ingress = readRules(spec.ingress, "spec.ingress", "from", r);
  const egress = readRules(spec.egress, "spec.egress", "to", r);
  let policyTypes: ("Ingress" | "Egress")[];
  if (spec.policyTypes !== undefined && spec.policyTypes !== null) {
    policyTypes = r
      .array(spec.policyTypes, "spec.policyTypes")
      .map((v, i) => r.oneOf(v, `spec.policyTypes[${i}]`, ["Ingress", "Egress"] as const, "Ingress"));
  } else {
    // API default: Ingress always, Egress when egress rules are present.
    policyTypes = egress.length > 0 ? ["Ingress", "Egress"] : ["Ingress"];
  }
  if (!r.ok) return { ok: false, problems: r.problems };
  return {
    ok: true,
    value: {
      namespace: r.namespace,
      name: r.name,
      podSelector,
      policyTypes: [...new Set(policyTypes)],
      ingress,
      egress,
    },
  };
}
