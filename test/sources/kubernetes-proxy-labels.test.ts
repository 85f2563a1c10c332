// kube-proxy's two labels: `service.kubernetes.io/service-proxy-name` (another proxy owns the Service)
// and `service.kubernetes.io/headless`. The API source asks the server not to send such objects
// (kubernetes-citizen.test.ts checks the selector on the wire); objects that arrive anyway (a manifest
// directory, a label added later) are kept in the store but not proxied.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ServiceProxy } from "../../runtime/services/proxy.ts";
import type { RawObject, SourceEvent } from "../../runtime/sources/source.ts";
import type { Service } from "../../runtime/store/objects.ts";
import { Store } from "../../runtime/store/store.ts";
import { validateObject } from "../../runtime/store/validate.ts";
import { chainsConfig, lbResults, View } from "../services/render.ts";

const test = suite("service-proxy-name and headless labels");

function rawService(
  name: string,
  labels: Record<string, string> = {},
  spec: Record<string, unknown> = {},
): RawObject {
  return {
    kind: "Service",
    metadata: { name, namespace: "default", labels },
    spec: { clusterIP: "10.96.0.10", ports: [{ name: "http", port: 80, targetPort: 8080 }], ...spec },
  };
}

function rawSlice(service: string, name: string, ip: string, labels: Record<string, string> = {}): RawObject {
  return {
    kind: "EndpointSlice",
    metadata: { name, namespace: "default", labels: { "kubernetes.io/service-name": service, ...labels } },
    addressType: "IPv4",
    endpoints: [{ addresses: [ip], conditions: { ready: true } }],
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
  };
}

const event = (object: RawObject): SourceEvent => ({
  type: "add",
  kind: object.kind,
  key: `default/${object.metadata.name}`,
  object,
});

test("validation records why a labelled Service or EndpointSlice is not proxied", () => {
  const owned = validateObject(
    "Service",
    rawService("a", { "service.kubernetes.io/service-proxy-name": "cilium" }),
  );
  assert.ok(owned.ok);
  assert.match(
    (owned as { value: Service }).value.notProxied ?? "",
    "label service.kubernetes.io/service-proxy-name=cilium: another proxy owns it",
  );
  const headless = validateObject("Service", rawService("b", { "service.kubernetes.io/headless": "" }));
  assert.match((headless as { value: Service }).value.notProxied ?? "", "service.kubernetes.io/headless");
  const plain = validateObject("Service", rawService("c", { app: "web" }));
  assert.is((plain as { value: Service }).value.notProxied, undefined);
  const slice = validateObject(
    "EndpointSlice",
    rawSlice("b", "b-1", "10.1.0.1", { "service.kubernetes.io/headless": "" }),
  );
  assert.ok(slice.ok && slice.value.notProxied?.includes("headless"));
});

test("healthCheckNodePort is read and checked like any port", () => {
  const lb = { type: "LoadBalancer", externalTrafficPolicy: "Local" };
  const good = validateObject("Service", rawService("a", {}, { ...lb, healthCheckNodePort: 32000 }));
  assert.is((good as { value: Service }).value.healthCheckNodePort, 32000);
  const none = validateObject("Service", rawService("a", {}, lb));
  assert.not.ok("healthCheckNodePort" in (none as { value: Service }).value);
  const bad = validateObject("Service", rawService("a", {}, { ...lb, healthCheckNodePort: 70000 }));
  assert.not.ok(bad.ok);
  assert.equal(bad.ok ? [] : bad.problems.map((p) => p.field), ["spec.healthCheckNodePort"]);
});

function planFrom(proxy: ServiceProxy, store: Store): View {
  const snap = store.snapshot();
  return new View(proxy.plan(snap, lbResults(proxy, snap)));
}

test("a Service owned by another proxy gets no rules; the label added or removed later takes or gives them back", () => {
  const store = new Store();
  const proxy = new ServiceProxy(chainsConfig);
  store.apply([
    event(rawService("mine")),
    event(rawSlice("mine", "mine-1", "10.1.0.1")),
    event(
      rawService(
        "theirs",
        { "service.kubernetes.io/service-proxy-name": "other" },
        { clusterIP: "10.96.0.11" },
      ),
    ),
    event(rawSlice("theirs", "theirs-1", "10.1.0.2")),
  ]);
  assert.equal(planFrom(proxy, store).chainNames("svc-c4"), ["svc-c4-default/mine/tcp/http"]);

  store.apply([
    { ...event(rawService("mine", { "service.kubernetes.io/service-proxy-name": "other" })), type: "update" },
  ]);
  assert.equal(planFrom(proxy, store).chainNames("svc-c4"), []);

  store.apply([{ ...event(rawService("theirs", {}, { clusterIP: "10.96.0.11" })), type: "update" }]);
  const view = planFrom(proxy, store);
  assert.equal(view.chainNames("svc-c4"), ["svc-c4-default/theirs/tcp/http"]);
  assert.equal(view.chain("svc-c4-default/theirs/tcp/http"), ["meta l4proto tcp dnat ip to 10.1.0.2:8080"]);
});

test("an EndpointSlice labelled headless is not an input of its Service", () => {
  const store = new Store();
  const proxy = new ServiceProxy(chainsConfig);
  store.apply([
    event(rawService("web")),
    event(rawSlice("web", "web-1", "10.1.0.1")),
    event(rawSlice("web", "web-2", "10.1.0.2", { "service.kubernetes.io/headless": "" })),
  ]);
  assert.equal(planFrom(proxy, store).chain("svc-c4-default/web/tcp/http"), [
    "meta l4proto tcp dnat ip to 10.1.0.1:8080",
  ]);
  // The label goes away: the slice's endpoint joins.
  store.apply([{ ...event(rawSlice("web", "web-2", "10.1.0.2")), type: "update" }]);
  const rules = planFrom(proxy, store).chain("svc-c4-default/web/tcp/http") ?? [];
  assert.ok(
    rules.some((r) => r.includes("10.1.0.2:8080")),
    rules.join("\n"),
  );
});

test.run();
