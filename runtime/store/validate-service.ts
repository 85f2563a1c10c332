// Service validation and normalisation, following the Kubernetes API rules that matter to a proxy.
// In manifest mode there is no API server to allocate cluster IPs or node ports, so those must be given.
import { type FieldReader, isDnsLabel, isDnsSubdomain, isPortName, type Json } from "./fields.ts";
import type { IpFamily, Protocol, Service, ServicePort } from "./objects.ts";
import { show } from "./problems.ts";
import type { Validated } from "./validated.ts";

const serviceTypes = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"] as const;
const protocols = ["TCP", "UDP", "SCTP"] as const;
const defaultAffinityTimeout = 10800;
const lbSourceRangesAnnotation = "service.beta.kubernetes.io/load-balancer-source-ranges";

// The labels that keep a Service (and its EndpointSlices, which the EndpointSlice controller labels
// alike) away from this proxy. kube-proxy watches both kinds with this selector.
export const serviceProxyNameLabel = "service.kubernetes.io/service-proxy-name";
export const headlessLabel = "service.kubernetes.io/headless";
export const proxiedLabelSelector = `!${serviceProxyNameLabel},!${headlessLabel}`;

/** Why an object with these labels is not this proxy's to serve; undefined when it is. */
export function notProxiedReason(labels: Record<string, string>): string | undefined {
  const proxyName = labels[serviceProxyNameLabel];
  if (proxyName !== undefined) return `label ${serviceProxyNameLabel}=${proxyName}: another proxy owns it`;
  if (labels[headlessLabel] !== undefined) return `label ${headlessLabel}: headless, nothing to proxy`;
  return undefined;
}

export function validateService(raw: Record<string, Json>, r: FieldReader): Validated<Service> {
  const metadata = r.record(raw.metadata, "metadata");
  const spec = r.record(raw.spec, "spec");
  const status = r.record(raw.status, "status");
  // (A name that is not even a DNS subdomain was already reported by the generic check.)
  if (isDnsSubdomain(r.name) && !isDnsLabel(r.name))
    r.fail("metadata.name", `must be a DNS label (a-z, 0-9, '-'), got ${show(r.name)}`);

  const type = r.oneOf(spec.type, "spec.type", serviceTypes, "ClusterIP");
  const { clusterIPs, ipFamilies } = readClusterIPs(spec, type, r);
  const ports = readPorts(spec, type, r);

  const externalIPs: string[] = [];
  r.array(spec.externalIPs, "spec.externalIPs").forEach((v, i) => {
    const ip = r.ip(v, `spec.externalIPs[${i}]`);
    if (ip) externalIPs.push(ip.text);
  });

  const loadBalancerIPs: string[] = [];
  const lbStatus = r.record(status.loadBalancer, "status.loadBalancer");
  r.array(lbStatus.ingress, "status.loadBalancer.ingress").forEach((v, i) => {
    const field = `status.loadBalancer.ingress[${i}]`;
    const ingress = r.record(v, field);
    if (ingress.ip === undefined || ingress.ip === null || ingress.ip === "") return; // hostname-only ingress
    const ip = r.ip(ingress.ip, `${field}.ip`);
    const ipMode = r.oneOf(ingress.ipMode, `${field}.ipMode`, ["VIP", "Proxy"] as const, "VIP");
    // ipMode Proxy: the load balancer proxies and sends traffic to the node, not to the VIP.
    if (ip && ipMode === "VIP" && type === "LoadBalancer") loadBalancerIPs.push(ip.text);
  });

  const annotations = r.stringMap(metadata.annotations, "metadata.annotations");
  const loadBalancerSourceRanges: string[] = [];
  const rangesField = r.array(spec.loadBalancerSourceRanges, "spec.loadBalancerSourceRanges");
  if (rangesField.length > 0) {
    rangesField.forEach((v, i) => {
      const cidr = r.cidr(typeof v === "string" ? v.trim() : v, `spec.loadBalancerSourceRanges[${i}]`);
      if (cidr) loadBalancerSourceRanges.push(cidr.text);
    });
  } else if (annotations[lbSourceRangesAnnotation]) {
    // Older clusters set the ranges through this annotation; kube-proxy honours it when the field is empty.
    annotations[lbSourceRangesAnnotation].split(",").forEach((v, i) => {
      const cidr = r.cidr(v.trim(), `metadata.annotations[${lbSourceRangesAnnotation}][${i}]`);
      if (cidr) loadBalancerSourceRanges.push(cidr.text);
    });
  }

  const externalTrafficPolicy = r.oneOf(
    spec.externalTrafficPolicy,
    "spec.externalTrafficPolicy",
    ["Cluster", "Local"] as const,
    "Cluster",
  );
  const internalTrafficPolicy = r.oneOf(
    spec.internalTrafficPolicy,
    "spec.internalTrafficPolicy",
    ["Cluster", "Local"] as const,
    "Cluster",
  );
  const affinity = r.oneOf(
    spec.sessionAffinity,
    "spec.sessionAffinity",
    ["None", "ClientIP"] as const,
    "None",
  );
  let sessionAffinityTimeoutSeconds = 0;
  if (affinity === "ClientIP") {
    const config = r.record(spec.sessionAffinityConfig, "spec.sessionAffinityConfig");
    const clientIP = r.record(config.clientIP, "spec.sessionAffinityConfig.clientIP");
    sessionAffinityTimeoutSeconds = r.integer(
      clientIP.timeoutSeconds,
      "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
      1,
      86400,
      defaultAffinityTimeout,
    );
  }

  const healthCheckNodePort = r.integer(spec.healthCheckNodePort, "spec.healthCheckNodePort", 1, 65535, 0);
  const notProxied = notProxiedReason(r.stringMap(metadata.labels, "metadata.labels"));

  if (!r.ok) return { ok: false, problems: r.problems };
  return {
    ok: true,
    value: {
      namespace: r.namespace,
      name: r.name,
      type,
      clusterIPs,
      ipFamilies,
      ports,
      externalIPs,
      loadBalancerIPs,
      loadBalancerSourceRanges,
      externalTrafficPolicy,
      internalTrafficPolicy,
      sessionAffinityTimeoutSeconds,
      annotations,
      ...(healthCheckNodePort > 0 ? { healthCheckNodePort } : {}),
      ...(notProxied ? { notProxied } : {}),
    },
  };
}

function readClusterIPs(
  spec: Record<string, Json>,
  type: Service["type"],
  r: FieldReader,
): { clusterIPs: string[]; ipFamilies: IpFamily[] } {
  const single = r.string(spec.clusterIP, "spec.clusterIP");
  const list = r
    .array(spec.clusterIPs, "spec.clusterIPs")
    .map((v, i) => r.string(v, `spec.clusterIPs[${i}]`));
  if (type === "ExternalName") return { clusterIPs: [], ipFamilies: [] };
  if (single && list.length > 0 && list[0] !== single) {
    r.fail("spec.clusterIPs[0]", `must equal spec.clusterIP ${show(single)}, got ${show(list[0])}`);
  }
  const texts = list.length > 0 ? list : single ? [single] : [];
  const field = list.length > 0 ? (i: number) => `spec.clusterIPs[${i}]` : () => "spec.clusterIP";
  if (texts.length === 0) {
    r.fail(
      "spec.clusterIP",
      "required: manifest mode has no allocator, give an address from the service CIDR or None",
    );
    return { clusterIPs: [], ipFamilies: [] };
  }
  if (texts[0] === "None") {
    if (type !== "ClusterIP") r.fail("spec.clusterIP", `None (headless) needs type ClusterIP, got ${type}`);
    return { clusterIPs: [], ipFamilies: [] };
  }
  if (texts.length > 2)
    r.fail("spec.clusterIPs", `at most 2 addresses (one per family), got ${texts.length}`);
  const clusterIPs: string[] = [];
  const ipFamilies: IpFamily[] = [];
  texts.slice(0, 2).forEach((text, i) => {
    const ip = r.ip(text, field(i));
    if (!ip) return;
    if (ipFamilies.includes(ip.family)) {
      r.fail(field(i), `two ${ip.family} addresses; dual-stack needs one of each family`);
      return;
    }
    clusterIPs.push(ip.text);
    ipFamilies.push(ip.family);
  });
  const declared = r.array(spec.ipFamilies, "spec.ipFamilies");
  declared.forEach((v, i) => {
    const family = r.oneOf(v, `spec.ipFamilies[${i}]`, ["IPv4", "IPv6"] as const, "IPv4");
    if (ipFamilies[i] !== undefined && family !== ipFamilies[i]) {
      r.fail(`spec.ipFamilies[${i}]`, `${family} does not match cluster IP ${clusterIPs[i]}`);
    }
  });
  return { clusterIPs, ipFamilies };
}

function readPorts(spec: Record<string, Json>, type: Service["type"], r: FieldReader): ServicePort[] {
  const raw = r.array(spec.ports, "spec.ports");
  const ports: ServicePort[] = [];
  const names = new Set<string>();
  const seen = new Set<string>();
  raw.forEach((value, i) => {
    const field = `spec.ports[${i}]`;
    const p = r.record(value, field);
    const name = r.string(p.name, `${field}.name`);
    if (raw.length > 1 && name === "")
      r.fail(`${field}.name`, "required when a service has more than one port");
    if (name !== "" && !isDnsLabel(name)) r.fail(`${field}.name`, `must be a DNS label, got ${show(name)}`);
    if (name !== "" && names.has(name)) r.fail(`${field}.name`, `duplicate port name ${show(name)}`);
    names.add(name);
    const protocol: Protocol = r.oneOf(p.protocol, `${field}.protocol`, protocols, "TCP");
    const port = r.integer(p.port, `${field}.port`, 1, 65535, 0);
    if (p.port === undefined || p.port === null) r.fail(`${field}.port`, "required");
    if (port && seen.has(`${protocol}/${port}`))
      r.fail(`${field}.port`, `duplicate ${protocol} port ${port}`);
    seen.add(`${protocol}/${port}`);
    const nodePort = readNodePort(p.nodePort, `${field}.nodePort`, type, r);
    let targetPort: number | string = port;
    if (typeof p.targetPort === "string" && !/^\d+$/.test(p.targetPort)) {
      if (!isPortName(p.targetPort))
        r.fail(`${field}.targetPort`, `must be a port number or name, got ${show(p.targetPort)}`);
      targetPort = p.targetPort;
    } else if (p.targetPort !== undefined && p.targetPort !== null) {
      const numeric = typeof p.targetPort === "string" ? Number(p.targetPort) : p.targetPort;
      targetPort = r.integer(numeric, `${field}.targetPort`, 1, 65535, port);
    }
    ports.push({ name, protocol, port, nodePort, targetPort });
  });
  return ports;
}

function readNodePort(value: Json, field: string, type: Service["type"], r: FieldReader): number {
  const nodePort = r.integer(value, field, 1, 65535, 0);
  if (nodePort !== 0 && (type === "ClusterIP" || type === "ExternalName")) {
    r.fail(field, `only for type NodePort or LoadBalancer, got type ${type}`);
    return 0;
  }
  if (nodePort === 0 && type === "NodePort" && (value === undefined || value === null)) {
    r.fail(field, "required for type NodePort: manifest mode has no allocator");
  }
  return nodePort;
}
