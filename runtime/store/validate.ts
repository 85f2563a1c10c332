// One entry point: validate any watched raw object into its normalised store type.
import { isClusterScoped, type RawObject, type WatchedKind } from "../sources/source.ts";
import { compactArrays } from "./compact.ts";
import { FieldReader, isDnsSubdomain, isRecord } from "./fields.ts";
import type {
  ClusterNetworkPolicy,
  EndpointSlice,
  Namespace,
  NetworkPolicy,
  Node,
  Pod,
  Service,
} from "./objects.ts";
import { show } from "./problems.ts";
import { validateNamespace, validateNode, validatePod } from "./validate-cluster.ts";
import { validateClusterNetworkPolicy } from "./validate-clusternetworkpolicy.ts";
import { validateEndpointSlice } from "./validate-endpointslice.ts";
import { validateNetworkPolicy } from "./validate-networkpolicy.ts";
import { validateService } from "./validate-service.ts";
import type { Validated } from "./validated.ts";

export interface KindTypes {
  Service: Service;
  EndpointSlice: EndpointSlice;
  Node: Node;
  Namespace: Namespace;
  Pod: Pod;
  NetworkPolicy: NetworkPolicy;
  ClusterNetworkPolicy: ClusterNetworkPolicy;
}

const validators: {
  [K in WatchedKind]: (raw: Record<string, unknown>, r: FieldReader) => Validated<KindTypes[K]>;
} = {
  Service: validateService,
  EndpointSlice: validateEndpointSlice,
  Node: validateNode,
  Namespace: validateNamespace,
  Pod: validatePod,
  NetworkPolicy: validateNetworkPolicy,
  ClusterNetworkPolicy: validateClusterNetworkPolicy,
};

export function validateObject<K extends WatchedKind>(kind: K, raw: RawObject): Validated<KindTypes[K]> {
  const metadata = isRecord(raw.metadata) ? raw.metadata : { name: "" };
  const name = typeof metadata.name === "string" ? metadata.name : "";
  const namespace = isClusterScoped(kind)
    ? ""
    : typeof metadata.namespace === "string" && metadata.namespace
      ? metadata.namespace
      : "default";
  const r = new FieldReader(kind, namespace, name);
  if (!isDnsSubdomain(name)) r.fail("metadata.name", `must be a lower-case DNS name, got ${show(name)}`);
  if (namespace && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace)) {
    r.fail("metadata.namespace", `must be a DNS label, got ${show(namespace)}`);
  }
  const result = validators[kind](raw as Record<string, unknown>, r);
  // Name problems found before the kind validator ran are already in r.problems.
  if (!result.ok) return result;
  return r.ok ? { ok: true, value: compactArrays(result.value) } : { ok: false, problems: r.problems };
}
