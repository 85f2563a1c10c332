// ClusterNetworkPolicy validation and normalisation (policy.networking.k8s.io/v1alpha2, the Network
// Policy API). Checks what the CRD's schema checks (there is no API server in manifest mode) and
// rejects fields this implementation does not know, naming them, instead of ignoring them. Peers
// are the exception: the API asks implementations to fail closed on a peer type they do not
// support, so such a peer is kept, marked `unsupported`, and the policy evaluator enforces it closed.
import { type FieldReader, isPortName, type Json } from "./fields.ts";
import type {
  ClusterNetworkPolicy,
  ClusterNetworkPolicyPeer,
  ClusterNetworkPolicyPort,
  ClusterNetworkPolicyRule,
  ClusterNetworkPolicySubject,
  NamespacedPodSelector,
  Protocol,
} from "./objects.ts";
import { show } from "./problems.ts";
import { readSelector } from "./validate-networkpolicy.ts";
import type { Validated } from "./validated.ts";

export const clusterNetworkPolicyApiVersion = "policy.networking.k8s.io/v1alpha2";
const maxRules = 25;
const maxItems = 25;
const protocolFields = { tcp: "TCP", udp: "UDP", sctp: "SCTP" } as const satisfies Record<string, Protocol>;

/** The one set key of an object whose schema says "exactly one field must be set", or null. */
function exactlyOne(
  object: Record<string, unknown>,
  field: string,
  r: FieldReader,
  choices: string,
): string | null {
  const keys = Object.keys(object).filter((k) => object[k] !== undefined && object[k] !== null);
  if (keys.length !== 1) {
    r.fail(field, `must set exactly one of ${choices}, got ${keys.length === 0 ? "none" : keys.join(", ")}`);
    return null;
  }
  return keys[0];
}

function readNamespacedPod(value: Json, field: string, r: FieldReader): NamespacedPodSelector {
  const p = r.record(value, field);
  r.onlyKnownFields(p, field, ["namespaceSelector", "podSelector"]);
  if (p.podSelector === undefined || p.podSelector === null) r.fail(`${field}.podSelector`, "required");
  return {
    namespaceSelector: readSelector(p.namespaceSelector, `${field}.namespaceSelector`, r),
    podSelector: readSelector(p.podSelector, `${field}.podSelector`, r),
  };
}

function readSubject(value: Json, r: FieldReader): ClusterNetworkPolicySubject {
  if (value === undefined || value === null) {
    r.fail("spec.subject", "required");
    return {};
  }
  const s = r.record(value, "spec.subject");
  r.onlyKnownFields(s, "spec.subject", ["namespaces", "pods"]);
  const key = exactlyOne(s, "spec.subject", r, "namespaces, pods");
  if (key === "namespaces") return { namespaces: readSelector(s.namespaces, "spec.subject.namespaces", r) };
  if (key === "pods") return { pods: readNamespacedPod(s.pods, "spec.subject.pods", r) };
  return {};
}

function readNetworks(value: Json, field: string, r: FieldReader): string[] {
  const list = r.array(value, field);
  if (list.length === 0 || list.length > maxItems)
    r.fail(field, `must have 1-${maxItems} CIDRs, got ${list.length}`);
  const networks: string[] = [];
  for (const [i, v] of list.entries()) {
    const cidr = r.cidr(v, `${field}[${i}]`);
    if (cidr && !networks.includes(cidr.text)) networks.push(cidr.text);
  }
  return networks;
}

function readPeer(value: Json, field: string, egress: boolean, r: FieldReader): ClusterNetworkPolicyPeer {
  const p = r.record(value, field);
  const choices = egress ? "namespaces, pods, networks" : "namespaces, pods";
  const key = exactlyOne(p, field, r, choices);
  if (key === "namespaces") return { namespaces: readSelector(p.namespaces, `${field}.namespaces`, r) };
  if (key === "pods") return { pods: readNamespacedPod(p.pods, `${field}.pods`, r) };
  if (key === "networks" && egress) return { networks: readNetworks(p.networks, `${field}.networks`, r) };
  // nodes, domainNames (experimental) or a field of a newer API version: enforced closed.
  return key === null ? {} : { unsupported: `${field}.${key}` };
}

function readDestinationPort(
  value: Json,
  field: string,
  protocol: Protocol,
  r: FieldReader,
): ClusterNetworkPolicyPort {
  const d = r.record(value, field);
  r.onlyKnownFields(d, field, ["number", "range"]);
  const key = exactlyOne(d, field, r, "number, range");
  if (key === "number") return { protocol, port: r.integer(d.number, `${field}.number`, 1, 65535, 1) };
  if (key !== "range") return { protocol };
  const range = r.record(d.range, `${field}.range`);
  r.onlyKnownFields(range, `${field}.range`, ["start", "end"]);
  for (const k of ["start", "end"]) if (range[k] === undefined) r.fail(`${field}.range.${k}`, "required");
  const start = r.integer(range.start, `${field}.range.start`, 1, 65535, 1);
  const end = r.integer(range.end, `${field}.range.end`, 1, 65535, 65535);
  if (start >= end) r.fail(`${field}.range`, `start must be less than end, got ${start}-${end}`);
  return { protocol, port: start, endPort: end };
}

function readProtocol(value: Json, field: string, r: FieldReader): ClusterNetworkPolicyPort {
  const p = r.record(value, field);
  r.onlyKnownFields(p, field, ["tcp", "udp", "sctp", "destinationNamedPort"]);
  const key = exactlyOne(p, field, r, "tcp, udp, sctp, destinationNamedPort");
  if (key === "destinationNamedPort") {
    const name = r.string(p.destinationNamedPort, `${field}.destinationNamedPort`);
    if (!isPortName(name)) r.fail(`${field}.destinationNamedPort`, `must be a port name, got ${show(name)}`);
    return { port: name };
  }
  if (key !== "tcp" && key !== "udp" && key !== "sctp") return {};
  const protocol = protocolFields[key];
  const body = r.record(p[key], `${field}.${key}`);
  r.onlyKnownFields(body, `${field}.${key}`, ["destinationPort"]);
  if (body.destinationPort === undefined || body.destinationPort === null) {
    r.fail(`${field}.${key}.destinationPort`, "required");
    return { protocol };
  }
  return readDestinationPort(body.destinationPort, `${field}.${key}.destinationPort`, protocol, r);
}

function readList(value: Json, field: string, r: FieldReader, required: boolean): Json[] {
  const list = r.array(value, field);
  const absent = value === undefined || value === null;
  if ((required || !absent) && (list.length === 0 || list.length > maxItems)) {
    r.fail(field, `must have 1-${maxItems} items, got ${list.length}`);
  }
  return list;
}

function readRule(value: Json, field: string, egress: boolean, r: FieldReader): ClusterNetworkPolicyRule {
  const rule = r.record(value, field);
  const peersField = egress ? "to" : "from";
  r.onlyKnownFields(rule, field, ["name", "action", peersField, "protocols"]);
  const name = r.string(rule.name, `${field}.name`);
  if (name.length > 100) r.fail(`${field}.name`, `must be at most 100 characters, got ${name.length}`);
  if (rule.action === undefined || rule.action === null)
    r.fail(`${field}.action`, "required: one of Accept, Deny, Pass");
  const action = r.oneOf(rule.action, `${field}.action`, ["Accept", "Deny", "Pass"] as const, "Deny");
  const peers = readList(rule[peersField], `${field}.${peersField}`, r, true).map((p, i) =>
    readPeer(p, `${field}.${peersField}[${i}]`, egress, r),
  );
  const ports = readList(rule.protocols, `${field}.protocols`, r, false).map((p, i) =>
    readProtocol(p, `${field}.protocols[${i}]`, r),
  );
  if (egress && ports.some((p) => typeof p.port === "string")) {
    peers.forEach((peer, i) => {
      if (peer.networks) {
        r.fail(
          `${field}.to[${i}].networks`,
          "cannot be combined with destinationNamedPort: networks have no named ports",
        );
      }
    });
  }
  return { name, action, peers, ports };
}

function readRules(value: Json, field: string, egress: boolean, r: FieldReader): ClusterNetworkPolicyRule[] {
  const list = r.array(value, field);
  if (list.length > maxRules) r.fail(field, `must have at most ${maxRules} rules, got ${list.length}`);
  return list.map((v, i) => readRule(v, `${field}[${i}]`, egress, r));
}

export function validateClusterNetworkPolicy(
  raw: Record<string, Json>,
  r: FieldReader,
): Validated<ClusterNetworkPolicy> {
  if (raw.apiVersion !== undefined && raw.apiVersion !== clusterNetworkPolicyApiVersion) {
    r.fail("apiVersion", `must be ${clusterNetworkPolicyApiVersion}, got ${show(raw.apiVersion)}`);
  }
  const spec = r.record(raw.spec, "spec");
  r.onlyKnownFields(spec, "spec", ["tier", "priority", "subject", "ingress", "egress"]);
  if (spec.tier === undefined || spec.tier === null) r.fail("spec.tier", "required: Admin or Baseline");
  const tier = r.oneOf(spec.tier, "spec.tier", ["Admin", "Baseline"] as const, "Admin");
  if (spec.priority === undefined || spec.priority === null) r.fail("spec.priority", "required: 0-1000");
  const priority = r.integer(spec.priority, "spec.priority", 0, 1000, 0);
  const subject = readSubject(spec.subject, r);
  const ingress = readRules(spec.ingress, "spec.ingress", false, r);
  const egress = readRules(spec.egress, "spec.egress", true, r);
  if (!r.ok) return { ok: false, problems: r.problems };
  return { ok: true, value: { name: r.name, tier, priority, subject, ingress, egress } };
}
