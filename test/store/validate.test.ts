import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { RawObject, WatchedKind } from "../../runtime/sources/source.ts";
import { formatProblem } from "../../runtime/store/problems.ts";
import { validateObject } from "../../runtime/store/validate.ts";

const test = suite("store validation");

function service(spec: Record<string, unknown>, extra: Record<string, unknown> = {}): RawObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "web", namespace: "default" },
    spec: { clusterIP: "10.96.0.10", ports: [{ port: 80 }], ...spec },
    ...extra,
  };
}

function slice(
  fields: Record<string, unknown>,
  labels: Record<string, string> = { "kubernetes.io/service-name": "web" },
): RawObject {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: "web-abc", namespace: "default", labels },
    addressType: "IPv4",
    endpoints: [{ addresses: ["10.244.1.2"] }],
    ports: [{ port: 8080 }],
    ...fields,
  };
}

// Each bad object must be rejected with exactly this message (one problem).
const rejections: [string, WatchedKind, RawObject, string][] = [
  [
    "port out of range",
    "Service",
    service({
      ports: [
        { name: "a", port: 80 },
        { name: "b", port: 70000 },
      ],
    }),
    "Service default/web: spec.ports[1].port: must be 1-65535, got 70000",
  ],
  ["missing port", "Service", service({ ports: [{}] }), "Service default/web: spec.ports[0].port: required"],
  [
    "unknown protocol",
    "Service",
    service({ ports: [{ port: 80, protocol: "ICMP" }] }),
    'Service default/web: spec.ports[0].protocol: must be one of TCP, UDP, SCTP, got "ICMP"',
  ],
  [
    "bad cluster IP",
    "Service",
    service({ clusterIP: "10.96.0.300" }),
    'Service default/web: spec.clusterIP: must be an IP address, got "10.96.0.300"',
  ],
  [
    "no cluster IP",
    "Service",
    service({ clusterIP: undefined }),
    "Service default/web: spec.clusterIP: required: manifest mode has no allocator, give an address from the service CIDR or None",
  ],
  [
    "two IPv4 cluster IPs",
    "Service",
    service({ clusterIP: "10.96.0.1", clusterIPs: ["10.96.0.1", "10.96.0.2"] }),
    "Service default/web: spec.clusterIPs[1]: two IPv4 addresses; dual-stack needs one of each family",
  ],
  [
    "unnamed ports",
    "Service",
    service({ ports: [{ port: 80 }, { name: "b", port: 81 }] }),
    "Service default/web: spec.ports[0].name: required when a service has more than one port",
  ],
  [
    "duplicate port",
    "Service",
    service({
      ports: [
        { name: "a", port: 80 },
        { name: "b", port: 80 },
      ],
    }),
    "Service default/web: spec.ports[1].port: duplicate TCP port 80",
  ],
  [
    "node port on ClusterIP",
    "Service",
    service({ ports: [{ port: 80, nodePort: 30080 }] }),
    "Service default/web: spec.ports[0].nodePort: only for type NodePort or LoadBalancer, got type ClusterIP",
  ],
  [
    "NodePort without node port",
    "Service",
    service({ type: "NodePort" }),
    "Service default/web: spec.ports[0].nodePort: required for type NodePort: manifest mode has no allocator",
  ],
  [
    "bad target port name",
    "Service",
    service({ ports: [{ port: 80, targetPort: "Not_A_Name" }] }),
    'Service default/web: spec.ports[0].targetPort: must be a port number or name, got "Not_A_Name"',
  ],
  [
    "bad source range",
    "Service",
    service({
      type: "LoadBalancer",
      ports: [{ port: 80, nodePort: 30080 }],
      loadBalancerSourceRanges: ["10.0.0.0/40"],
    }),
    'Service default/web: spec.loadBalancerSourceRanges[0]: must be a CIDR such as 10.0.0.0/8 or fd00::/64, got "10.0.0.0/40"',
  ],
  [
    "affinity timeout",
    "Service",
    service({ sessionAffinity: "ClientIP", sessionAffinityConfig: { clientIP: { timeoutSeconds: 0 } } }),
    "Service default/web: spec.sessionAffinityConfig.clientIP.timeoutSeconds: must be 1-86400, got 0",
  ],
  [
    "bad traffic policy",
    "Service",
    service({ externalTrafficPolicy: "Global" }),
    'Service default/web: spec.externalTrafficPolicy: must be one of Cluster, Local, got "Global"',
  ],
  [
    "upper-case name",
    "Service",
    { ...service({}), metadata: { name: "Web", namespace: "default" } },
    'Service default/Web: metadata.name: must be a lower-case DNS name, got "Web"',
  ],
  [
    "slice without service label",
    "EndpointSlice",
    slice({}, {}),
    "EndpointSlice default/web-abc: metadata.labels[kubernetes.io/service-name]: required: names the Service this slice belongs to",
  ],
  [
    "slice address of the wrong family",
    "EndpointSlice",
    slice({ endpoints: [{ addresses: ["fd00::1"] }] }),
    'EndpointSlice default/web-abc: endpoints[0].addresses[0]: must be an IPv4 address (addressType), got "fd00::1"',
  ],
  [
    "slice condition not a boolean",
    "EndpointSlice",
    slice({ endpoints: [{ addresses: ["10.244.1.2"], conditions: { ready: "yes" } }] }),
    'EndpointSlice default/web-abc: endpoints[0].conditions.ready: must be true or false, got "yes"',
  ],
  [
    "slice port out of range",
    "EndpointSlice",
    slice({ ports: [{ port: 0 }] }),
    "EndpointSlice default/web-abc: ports[0].port: must be 1-65535, got 0",
  ],
  [
    "node with a bad pod CIDR",
    "Node",
    { kind: "Node", metadata: { name: "n1" }, spec: { podCIDRs: ["10.244.1.0/33"] } },
    'Node n1: spec.podCIDRs[0]: must be a CIDR such as 10.0.0.0/8 or fd00::/64, got "10.244.1.0/33"',
  ],
  [
    "pod with a bad IP",
    "Pod",
    { kind: "Pod", metadata: { name: "p", namespace: "ns1" }, status: { podIPs: [{ ip: "x" }] } },
    'Pod ns1/p: status.podIPs[0].ip: must be an IP address, got "x"',
  ],
  [
    "policy peer with nothing",
    "NetworkPolicy",
    {
      kind: "NetworkPolicy",
      metadata: { name: "np", namespace: "ns1" },
      spec: { ingress: [{ from: [{}] }] },
    },
    "NetworkPolicy ns1/np: spec.ingress[0].from[0]: must set podSelector, namespaceSelector or ipBlock",
  ],
  [
    "policy endPort below port",
    "NetworkPolicy",
    {
      kind: "NetworkPolicy",
      metadata: { name: "np", namespace: "ns1" },
      spec: { egress: [{ ports: [{ port: 80, endPort: 79 }] }] },
    },
    "NetworkPolicy ns1/np: spec.egress[0].ports[0].endPort: must be >= port 80, got 79",
  ],
];

for (const [name, kind, raw, message] of rejections) {
  test(`rejects: ${name}`, () => {
    const result = validateObject(kind, raw);
    if (result.ok) assert.unreachable(`accepted ${JSON.stringify(raw)}`);
    else assert.equal(result.problems.map(formatProblem), [message]);
  });
}

test("reports every bad field of one object", () => {
  const result = validateObject(
    "Service",
    service({ ports: [{ port: -1, protocol: "X" }], externalIPs: ["nope"] }),
  );
  assert.not.ok(result.ok);
  if (!result.ok)
    assert.equal(result.problems.map((p) => p.field).sort(), [
      "spec.externalIPs[0]",
      "spec.ports[0].port",
      "spec.ports[0].protocol",
    ]);
});

test("normalises a full service: defaults, canonical IPv6, ingress ipMode Proxy skipped, annotation ranges", () => {
  const result = validateObject("Service", {
    kind: "Service",
    metadata: {
      name: "web",
      annotations: {
        "service.beta.kubernetes.io/load-balancer-source-ranges": "10.1.2.3/16, 192.168.0.0/24",
      },
    },
    spec: {
      type: "LoadBalancer",
      clusterIPs: ["10.96.0.10", "FD00:0:0:0:0:0:0:A"],
      ports: [
        { name: "http", port: 80, targetPort: "http-alt", nodePort: 30080 },
        { name: "dns", port: 53, protocol: "UDP", targetPort: "5353", nodePort: 30053 },
      ],
      externalIPs: ["172.16.0.1"],
      sessionAffinity: "ClientIP",
      externalTrafficPolicy: "Local",
    },
    status: {
      loadBalancer: {
        ingress: [{ ip: "172.16.1.1" }, { ip: "172.16.1.2", ipMode: "Proxy" }, { hostname: "lb.example" }],
      },
    },
  } as RawObject);
  if (!result.ok) assert.unreachable(result.problems.map(formatProblem).join("\n"));
  else
    assert.equal(result.value, {
      namespace: "default",
      name: "web",
      type: "LoadBalancer",
      clusterIPs: ["10.96.0.10", "fd00::a"],
      ipFamilies: ["IPv4", "IPv6"],
      ports: [
        { name: "http", protocol: "TCP", port: 80, nodePort: 30080, targetPort: "http-alt" },
        { name: "dns", protocol: "UDP", port: 53, nodePort: 30053, targetPort: 5353 },
      ],
      externalIPs: ["172.16.0.1"],
      loadBalancerIPs: ["172.16.1.1"],
      loadBalancerSourceRanges: ["10.1.0.0/16", "192.168.0.0/24"],
      externalTrafficPolicy: "Local",
      internalTrafficPolicy: "Cluster",
      sessionAffinityTimeoutSeconds: 10800,
      annotations: {
        "service.beta.kubernetes.io/load-balancer-source-ranges": "10.1.2.3/16, 192.168.0.0/24",
      },
    });
});

test("headless service has no cluster IPs", () => {
  const result = validateObject("Service", service({ clusterIP: "None" }));
  assert.ok(result.ok && result.value.clusterIPs.length === 0);
});

test("endpoint conditions default as kube-proxy reads them", () => {
  const result = validateObject(
    "EndpointSlice",
    slice({
      endpoints: [
        { addresses: ["10.244.1.2"] },
        { addresses: ["10.244.1.3"], conditions: { ready: false } },
        {
          addresses: ["10.244.1.4"],
          conditions: { ready: false, serving: true, terminating: true },
          nodeName: "n1",
          zone: "z1",
          hints: { forZones: [{ name: "z1" }] },
        },
      ],
      ports: [{ name: "http", port: 8080 }, { name: "any" }],
    }),
  );
  if (!result.ok) assert.unreachable(result.problems.map(formatProblem).join("\n"));
  else {
    assert.equal(
      result.value.endpoints.map((e) => e.conditions),
      [
        { ready: true, serving: true, terminating: false },
        { ready: false, serving: false, terminating: false },
        { ready: false, serving: true, terminating: true },
      ],
    );
    assert.equal(result.value.endpoints[2], {
      addresses: ["10.244.1.4"],
      conditions: { ready: false, serving: true, terminating: true },
      nodeName: "n1",
      zone: "z1",
      hintZones: ["z1"],
    });
    assert.equal(result.value.ports, [{ name: "http", protocol: "TCP", port: 8080 }]);
    assert.is(result.value.serviceName, "web");
  }
});

test("node, namespace, pod and policy normalise", () => {
  const node = validateObject("Node", {
    kind: "Node",
    metadata: { name: "n1", labels: { "topology.kubernetes.io/zone": "z1" } },
    spec: { podCIDR: "10.244.1.0/24" },
    status: {
      addresses: [
        { type: "Hostname", address: "n1" },
        { type: "InternalIP", address: "192.168.1.10" },
      ],
    },
  });
  assert.equal(node.ok && node.value, {
    name: "n1",
    addresses: ["192.168.1.10"],
    podCIDRs: ["10.244.1.0/24"],
    zone: "z1",
  });
  const ns = validateObject("Namespace", { kind: "Namespace", metadata: { name: "team" } });
  assert.equal(ns.ok && ns.value, { name: "team", labels: { "kubernetes.io/metadata.name": "team" } });
  const pod = validateObject("Pod", {
    kind: "Pod",
    metadata: { name: "p", uid: "u1", labels: { app: "web" } },
    spec: { nodeName: "n1" },
    status: { podIP: "10.244.1.5" },
  });
  assert.equal(pod.ok && pod.value, {
    namespace: "default",
    name: "p",
    uid: "u1",
    podIPs: ["10.244.1.5"],
    labels: { app: "web" },
    annotations: {},
    containerPorts: [],
    hostNetwork: false,
    phase: "",
    nodeName: "n1",
  });
  const policy = validateObject("NetworkPolicy", {
    kind: "NetworkPolicy",
    metadata: { name: "np", namespace: "ns1" },
    spec: {
      podSelector: { matchLabels: { app: "web" } },
      egress: [
        {
          to: [{ ipBlock: { cidr: "10.0.0.0/8", except: ["10.1.0.0/16"] } }],
          ports: [{ port: 53, protocol: "UDP" }],
        },
      ],
    },
  });
  if (!policy.ok) assert.unreachable(policy.problems.map(formatProblem).join("\n"));
  else {
    assert.equal(policy.value.policyTypes, ["Ingress", "Egress"]);
    assert.equal(policy.value.egress[0], {
      peers: [{ ipBlock: { cidr: "10.0.0.0/8", except: ["10.1.0.0/16"] } }],
      ports: [{ protocol: "UDP", port: 53 }],
    });
  }
});

test.run();
