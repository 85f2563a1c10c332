// Validation of the context objects: Node, Namespace and Pod.
import { type FieldReader, isPortName, type Json } from "./fields.ts";
import type { ContainerPort, Namespace, Node, Pod } from "./objects.ts";
import { show } from "./problems.ts";
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

function readContainerPorts(value: Json, field: string, r: FieldReader, out: ContainerPort[]): void {
  r.array(value, field).forEach((v, i) => {
    const f = `${field}[${i}]`;
    const p = r.record(v, f);
    const name = r.string(p.name, `${f}.name`);
    if (name !== "" && !isPortName(name))
      r.fail(`${f}.name`, `must be a port name (IANA_SVC_NAME), got ${show(name)}`);
    if (p.containerPort === undefined || p.containerPort === null) r.fail(`${f}.containerPort`, "required");
    const port = r.integer(p.containerPort, `${f}.containerPort`, 1, 65535, 0);
    const protocol = r.oneOf(p.protocol, `${f}.protocol`, ["TCP", "UDP", "SCTP"] as const, "TCP");
    out.push({ name, protocol, port });
  });
}

/** Ports of the containers, then of the init containers that keep running (restartPolicy Always). */
function readPodPorts(spec: Record<string, Json>, r: FieldReader): ContainerPort[] {
  const ports: ContainerPort[] = [];
  r.array(spec.containers, "spec.containers").forEach((c, i) => {
    const field = `spec.containers[${i}]`;
    readContainerPorts(r.record(c, field).ports, `${field}.ports`, r, ports);
  });
  r.array(spec.initContainers, "spec.initContainers").forEach((c, i) => {
    const field = `spec.initContainers[${i}]`;
    const container = r.record(c, field);
    if (r.string(container.restartPolicy, `${field}.restartPolicy`) !== "Always") return;
    readContainerPorts(container.ports, `${field}.ports`, r, ports);
  });
  return ports;
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
    containerPorts: readPodPorts(spec, r),
    hostNetwork: r.boolean(spec.hostNetwork, "spec.hostNetwork", false),
    phase: r.string(status.phase, "status.phase"),
  };
  const nodeName = r.string(spec.nodeName, "spec.nodeName");
  if (nodeName) pod.nodeName = nodeName;
  if (!r.ok) return { ok: false, problems: r.problems };
  return { ok: true, value: pod };
}
