// Validation of the context objects: Node, Namespace and Pod.
import type { FieldReader, Json } from "./fields.ts";
import type { Namespace, Node, Pod } from "./objects.ts";
import type { Validated } from "./validated.ts";

const zoneLabel = "topology.kubernetes.io/zone";

export function validateNode(raw: Record<string, Json>, r: FieldReader): Validated<Node> {
  const metadata = r.record(raw.metadata, "metadata");
  const labels = r.stringMap(metadata.labels, "metadata.labels");
  const spec = r.record(raw.spec, "spec");
  const status = r.record(raw.status, "status");
  const addresses: string[] = [];
  r.array(status.addresses, "status.addresses").forEach((value, i) => {
    const a = r.record(value, `status.addresses[${i}]`);
    const type = r.string(a.type, `status.addresses[${i}].type`);
    if (type !== "InternalIP" && type !== "ExternalIP") return; // Hostname, InternalDNS…
    const ip = r.ip(a.address, `status.addresses[${i}].address`);
    if (ip && !addresses.includes(ip.text)) addresses.push(ip.text);
  });
  const podCIDRs: string[] = [];
  const list = r.array(spec.podCIDRs, "spec.podCIDRs");
  const cidrTexts = list.length > 0 ? list : spec.podCIDR ? [spec.podCIDR] : [];
  cidrTexts.forEach((v, i) => {
    const cidr = r.cidr(v, list.length > 0 ? `spec.podCIDRs[${i}]` : "spec.podCIDR");
    if (cidr) podCIDRs.push(cidr.text);
  });
  if (!r.ok) return { ok: false, problems: r.problems };
  const node: Node = { name: r.name, addresses, podCIDRs };
  if (labels[zoneLabel]) node.zone = labels[zoneLabel];
  return { ok: true, value: node };
}

export function validateNamespace(raw: Record<string, Json>, r: FieldReader): Validated<Namespace> {
  const metadata = r.record(raw.metadata, "metadata");
  const labels = r.stringMap(metadata.labels, "metadata.labels");
  if (!r.ok) return { ok: false, problems: r.problems };
  // The API server adds this label to every namespace; policies select namespaces by it.
  return { ok: true, value: { name: r.name, labels: { "kubernetes.io/metadata.name": r.name, ...labels } } };
}

export function validatePod(raw: Record<string, Json>, r: FieldReader): Validated<Pod> {
  const metadata = r.record(raw.metadata, "metadata");
  const spec = r.record(raw.spec, "spec");
  const status = r.record(raw.status, "status");
  const podIPs: string[] = [];
  const list = r.array(status.podIPs, "status.podIPs");
  if (list.length > 0) {
    list.forEach((v, i) => {
      const ip = r.ip(r.record(v, `status.podIPs[${i}]`).ip, `status.podIPs[${i}].ip`);
      if (ip) podIPs.push(ip.text);
    });
  } else if (status.podIP) {
    const ip = r.ip(status.podIP, "status.podIP");
    if (ip) podIPs.push(ip.text);
  }
  const pod: Pod = {
    namespace: r.namespace,
    name: r.name,
    uid: r.string(metadata.uid, "metadata.uid"),
    podIPs,
    labels: r.stringMap(metadata.labels, "metadata.labels"),
    annotations: r.stringMap(metadata.annotations, "metadata.annotations"),
  };
  const nodeName = r.string(spec.nodeName, "spec.nodeName");
  if (nodeName) pod.nodeName = nodeName;
  if (!r.ok) return { ok: false, problems: r.problems };
  return { ok: true, value: pod };
}
