// EndpointSlice validation and normalisation. Condition defaults follow kube-proxy: a missing `ready`
// or `serving` means true (unknown is treated as ready), a missing `terminating` means false.
import { type FieldReader, isDnsLabel, type Json } from "./fields.ts";
import type { Endpoint, EndpointConditions, EndpointPort, EndpointSlice } from "./objects.ts";
import { show } from "./problems.ts";
import { notProxiedReason } from "./validate-service.ts";
import type { Validated } from "./validated.ts";

export const serviceNameLabel = "kubernetes.io/service-name";

export function validateEndpointSlice(raw: Record<string, Json>, r: FieldReader): Validated<EndpointSlice> {
  const metadata = r.record(raw.metadata, "metadata");
  const labels = r.stringMap(metadata.labels, "metadata.labels");
  const serviceName = labels[serviceNameLabel] ?? "";
  if (serviceName === "")
    r.fail(`metadata.labels[${serviceNameLabel}]`, "required: names the Service this slice belongs to");
  const addressType = r.oneOf(raw.addressType, "addressType", ["IPv4", "IPv6", "FQDN"] as const, "IPv4");
  if (raw.addressType === undefined || raw.addressType === null)
    r.fail("addressType", "required: IPv4, IPv6 or FQDN");

  const endpoints: Endpoint[] = [];
  r.array(raw.endpoints, "endpoints").forEach((value, i) => {
    const field = `endpoints[${i}]`;
    const e = r.record(value, field);
    const addresses: string[] = [];
    const rawAddresses = r.array(e.addresses, `${field}.addresses`);
    if (rawAddresses.length === 0) r.fail(`${field}.addresses`, "must list at least one address");
    rawAddresses.forEach((a, j) => {
      if (addressType === "FQDN") {
        addresses.push(r.string(a, `${field}.addresses[${j}]`));
        return;
      }
      const ip = r.ip(a, `${field}.addresses[${j}]`);
      if (ip && ip.family !== addressType) {
        r.fail(`${field}.addresses[${j}]`, `must be an ${addressType} address (addressType), got ${show(a)}`);
      } else if (ip) addresses.push(ip.text);
    });
    const c = r.record(e.conditions, `${field}.conditions`);
    const ready = r.boolean(c.ready, `${field}.conditions.ready`, true);
    const endpoint: Endpoint = {
      addresses,
      conditions: sharedConditions(
        ready,
        r.boolean(c.serving, `${field}.conditions.serving`, ready),
        r.boolean(c.terminating, `${field}.conditions.terminating`, false),
      ),
    };
    const nodeName = r.string(e.nodeName, `${field}.nodeName`);
    if (nodeName) endpoint.nodeName = nodeName;
    const zone = r.string(e.zone, `${field}.zone`);
    if (zone) endpoint.zone = zone;
    const hints = r.record(e.hints, `${field}.hints`);
    if (hints.forZones !== undefined) {
      endpoint.hintZones = r
        .array(hints.forZones, `${field}.hints.forZones`)
        .map((z, j) =>
          r.string(r.record(z, `${field}.hints.forZones[${j}]`).name, `${field}.hints.forZones[${j}].name`),
        )
        .filter((z) => z !== "");
    }
    endpoints.push(endpoint);
  });

  const ports: EndpointPort[] = [];
  r.array(raw.ports, "ports").forEach((value, i) => {
    const field = `ports[${i}]`;
    const p = r.record(value, field);
    const name = r.string(p.name, `${field}.name`);
    if (name !== "" && !isDnsLabel(name))
      r.fail(`${field}.name`, `must be a DNS label or empty, got ${show(name)}`);
    const protocol = r.oneOf(p.protocol, `${field}.protocol`, ["TCP", "UDP", "SCTP"] as const, "TCP");
    // A port without a number means "all ports" in the API; a proxy cannot use it (kube-proxy skips it too).
    if (p.port === undefined || p.port === null) return;
    const port = r.integer(p.port, `${field}.port`, 1, 65535, 0);
    ports.push({ name, protocol, port });
  });

  const notProxied = notProxiedReason(labels);
  if (!r.ok) return { ok: false, problems: r.problems };
  return {
    ok: true,
    value: {
      namespace: r.namespace,
      name: r.name,
      serviceName,
      addressType,
      endpoints,
      ports,
      ...(notProxied ? { notProxied } : {}),
    },
  };
}

/**
 * The eight possible conditions as eight frozen objects, shared by every endpoint: the store holds
 * every endpoint of the cluster (300,000 at 100,000 Services × 3), and nothing changes them in place.
 */
const CONDITIONS: readonly EndpointConditions[] = Array.from({ length: 8 }, (_, bits) =>
  Object.freeze({ ready: (bits & 4) !== 0, serving: (bits & 2) !== 0, terminating: (bits & 1) !== 0 }),
);
function sharedConditions(ready: boolean, serving: boolean, terminating: boolean): EndpointConditions {
  return CONDITIONS[(ready ? 4 : 0) | (serving ? 2 : 0) | (terminating ? 1 : 0)];
}
