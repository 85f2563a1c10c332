// Equality of store objects by content. The store hands out a new object for every update, even
// when only metadata the planner does not read changed (an annotation, a re-sent EndpointSlice), so
// the planner compares content before working anything out again.
import { sameValue } from "../../nft/same-value.ts";
import type { Endpoint, EndpointConditions, EndpointPort, EndpointSlice, Service } from "../store/objects.ts";

/** Equal in everything but annotations (which only choose the LB algorithm and its parameters). */
export function sameServiceSpec(a: Service, b: Service): boolean {
  if (a === b) return true;
  const keys = Object.keys(a) as (keyof Service)[];
  if (keys.length !== Object.keys(b).length) return false;
  for (const k of keys)
    if (k !== "annotations" && (!Object.hasOwn(b, k) || !sameValue(a[k], b[k]))) return false;
  return true;
}

/** The same slices in the same order, each the same object or equal in content. */
export function sameSlices(a: EndpointSlice[], b: EndpointSlice[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && !sameSlice(a[i], b[i])) return false;
  return true;
}

// Every field of a slice and an endpoint, so that adding one to the store's types fails to compile
// here until sameSlice compares it. Field by field is several times faster than sameData on the
// ~10,000 slices an algorithm swap may re-send.
const SLICE_FIELDS: Record<keyof EndpointSlice, true> = {
  namespace: true,
  name: true,
  serviceName: true,
  addressType: true,
  endpoints: true,
  ports: true,
  notProxied: true,
};
const ENDPOINT_FIELDS: Record<keyof Endpoint, true> = {
  addresses: true,
  conditions: true,
  nodeName: true,
  zone: true,
  hintZones: true,
};
const CONDITION_FIELDS: Record<keyof EndpointConditions, true> = {
  ready: true,
  serving: true,
  terminating: true,
};
const PORT_FIELDS: Record<keyof EndpointPort, true> = { name: true, protocol: true, port: true };
void [SLICE_FIELDS, ENDPOINT_FIELDS, CONDITION_FIELDS, PORT_FIELDS];

const sameStrings = (a: string[] | undefined, b: string[] | undefined) => {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};

function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  return (
    sameStrings(a.addresses, b.addresses) &&
    a.conditions.ready === b.conditions.ready &&
    a.conditions.serving === b.conditions.serving &&
    a.conditions.terminating === b.conditions.terminating &&
    a.nodeName === b.nodeName &&
    a.zone === b.zone &&
    sameStrings(a.hintZones, b.hintZones)
  );
}

function sameSlice(a: EndpointSlice, b: EndpointSlice): boolean {
  if (
    a.namespace !== b.namespace ||
    a.name !== b.name ||
    a.serviceName !== b.serviceName ||
    a.addressType !== b.addressType ||
    a.notProxied !== b.notProxied ||
    a.ports.length !== b.ports.length ||
    a.endpoints.length !== b.endpoints.length
  )
    return false;
  for (let i = 0; i < a.ports.length; i++) {
    const p = a.ports[i];
    const q = b.ports[i];
    if (p.name !== q.name || p.protocol !== q.protocol || p.port !== q.port) return false;
  }
  for (let i = 0; i < a.endpoints.length; i++)
    if (a.endpoints[i] !== b.endpoints[i] && !sameEndpoint(a.endpoints[i], b.endpoints[i])) return false;
  return true;
}
