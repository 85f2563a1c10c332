// deploy/ as an operator applies it: every file kubectl reads is a manifest, and the DaemonSet has
// what a node agent replacing kube-proxy and running the CNI needs (privileges, host paths,
// probes on the health port, a memory limit above the measured use), with node-local values
// taken from the Node object rather than written into the manifest.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { parse as parseYaml } from "yaml";
import { parseAgentArgs } from "../../runtime/agent/config.ts";
import { deployDir, deployObject, type Manifest, manifestFiles, readManifests } from "./layout.ts";

const test = suite("deploy manifests");

const CLUSTER_SCOPED = new Set(["ClusterRole", "ClusterRoleBinding", "Namespace", "PriorityClass"]);

function podSpec(): Manifest {
  return deployObject("DaemonSet", "wasmplane-agent").spec.template.spec;
}

function container(name: string): Manifest {
  const spec = podSpec();
  const found = [...(spec.initContainers ?? []), ...spec.containers].find((c: Manifest) => c.name === name);
  if (!found) throw new Error(`DaemonSet: no container ${name}`);
  return found;
}

/** hostPath of the volume mounted at `mountPath` in `c`. */
function hostPathAt(c: Manifest, mountPath: string): string | undefined {
  const mount = (c.volumeMounts ?? []).find((m: Manifest) => m.mountPath === mountPath);
  return podSpec().volumes.find((v: Manifest) => v.name === mount?.name)?.hostPath?.path;
}

/** Kubernetes quantity to bytes (the binary and decimal suffixes a memory limit uses). */
function bytes(quantity: string): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(quantity);
  if (!m) throw new Error(`not a quantity: ${quantity}`);
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
  return Number(m[1]) * (m[2] ? unit[m[2] as keyof typeof unit] : 1);
}

/** The DaemonSet's agent arguments with the downward-API variables filled in, parsed by the agent. */
function agentConfig() {
  const configMap = deployObject("ConfigMap", "wasmplane-config");
  const agent = container("agent");
  const args = (agent.args as string[]).slice(1).map((a) => a.replace("$(NODE_NAME)", "node-1"));
  const parsed = parseAgentArgs(args, (path) => {
    assert.is(path, "/etc/wasmplane/config.yaml", "--config points into the ConfigMap mount");
    return parseYaml(configMap.data["config.yaml"]);
  });
  if (parsed.help) throw new Error("help");
  return parsed.config;
}

test("every file kubectl reads under deploy/ is a manifest with kind, apiVersion and name", () => {
  const files = manifestFiles();
  assert.ok(files.length >= 3, files.join(", "));
  for (const file of files) {
    const { path, docs } = readManifests(file);
    assert.ok(docs.length > 0, `${path}: no objects`);
    for (const doc of docs) {
      const what = `${path}: ${doc.kind}/${doc.metadata?.name}`;
      assert.type(doc.apiVersion, "string", `${what}: apiVersion`);
      assert.type(doc.kind, "string", `${what}: kind`);
      assert.type(doc.metadata?.name, "string", `${what}: metadata.name`);
      if (!CLUSTER_SCOPED.has(doc.kind)) assert.type(doc.metadata.namespace, "string", `${what}: namespace`);
    }
  }
  // Whatever is not a manifest (the image definition, READMEs) has a name kubectl skips.
  const others = readdirSync(deployDir).filter((f) => !/\.(json|ya?ml)$/.test(f) && f !== "examples");
  assert.equal(others.sort(), ["Containerfile"]);
});

test("the DaemonSet runs on every Linux node, privileged, in the host network, node-critical", () => {
  const ds = deployObject("DaemonSet", "wasmplane-agent");
  const spec = podSpec();
  assert.equal(ds.spec.selector.matchLabels, ds.spec.template.metadata.labels);
  assert.is(spec.hostNetwork, true);
  assert.is(spec.dnsPolicy, "Default", "the node's resolver: cluster DNS needs our rules first");
  assert.is(spec.priorityClassName, "system-node-critical");
  assert.equal(spec.tolerations, [{ operator: "Exists" }], "tolerates every taint");
  assert.equal(spec.nodeSelector, { "kubernetes.io/os": "linux" });
  assert.is(container("agent").securityContext.privileged, true);
  assert.is(spec.serviceAccountName, deployObject("ServiceAccount").metadata.name);
  assert.is(ds.metadata.namespace, deployObject("ServiceAccount").metadata.namespace);
  assert.is(deployObject("ConfigMap", "wasmplane-config").metadata.namespace, ds.metadata.namespace);
});

test("an init container installs the CNI executable and conflist into the host's CNI directories", () => {
  const init = container("install-cni");
  assert.is(podSpec().initContainers.length, 1);
  assert.equal(init.args.slice(0, 2), ["cni", "install"]);
  const flag = (name: string) =>
    (init.args as string[]).find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
  assert.is(hostPathAt(init, flag("bin-dir")!), "/opt/cni/bin");
  assert.is(hostPathAt(init, flag("conf-dir")!), "/etc/cni/net.d");
  // The conflist names the socket the agent serves.
  assert.is(flag("socket"), agentConfig().cni.socket);
  for (const probe of ["livenessProbe", "readinessProbe", "startupProbe"])
    assert.is(init[probe], undefined, `init containers may not have a ${probe}`);
});

test("the agent mounts its state, sockets, the pod namespaces (bidirectional) and /lib/modules", () => {
  const agent = container("agent");
  const mount = (path: string) => agent.volumeMounts.find((m: Manifest) => m.mountPath === path);
  assert.is(hostPathAt(agent, "/var/lib/wasmplane"), "/var/lib/wasmplane");
  assert.is(hostPathAt(agent, "/run/wasmplane"), "/run/wasmplane");
  assert.is(hostPathAt(agent, "/run/netns"), "/run/netns");
  assert.is(mount("/run/netns").mountPropagation, "Bidirectional");
  assert.is(hostPathAt(agent, "/lib/modules"), "/lib/modules");
  assert.is(mount("/lib/modules").readOnly, true);
  const volumes = new Set(podSpec().volumes.map((v: Manifest) => v.name));
  for (const c of [...podSpec().initContainers, ...podSpec().containers])
    for (const m of c.volumeMounts ?? []) {
      assert.ok(volumes.has(m.name), `${c.name}: mount ${m.mountPath} names no volume`);
      // The API server refuses Bidirectional propagation outside privileged containers.
      if (m.mountPropagation === "Bidirectional") assert.is(c.securityContext?.privileged, true, c.name);
    }
  const config = agentConfig();
  const under = (path: string, dir: string) => path === dir || path.startsWith(`${dir}/`);
  const mounted = (path: string) => agent.volumeMounts.some((m: Manifest) => under(path, m.mountPath));
  assert.ok(mounted(config.cni.socket as string), "the CNI socket is on a host path");
  assert.ok(mounted(config.cni.stateDir as string), "the IPAM journal is on a host path");
  assert.ok(mounted(config.statusAddress.replace(/^unix:/, "")), "the status socket is on a host path");
});

test("liveness and readiness probes ask the health endpoint the kubelet reaches on the node", () => {
  const agent = container("agent");
  const config = agentConfig();
  const port = Number(config.healthzBindAddress.split(":").at(-1));
  assert.ok(config.healthzBindAddress.startsWith("0.0.0.0:"), "listens on every node address");
  assert.equal(agent.livenessProbe.httpGet, { path: "/livez", port });
  assert.equal(agent.readinessProbe.httpGet, { path: "/readyz", port });
  assert.is(agent.ports[0].containerPort, port);
});

test("the memory limit is above the measured use at 10,000 Services", () => {
  // docs/services.md: RSS up to 248 MiB at 10,000 Services; the API client library adds ~130 MiB.
  const measured = (248 + 130) * 2 ** 20;
  const resources = container("agent").resources;
  assert.ok(bytes(resources.limits.memory) >= 1.5 * measured, resources.limits.memory);
  assert.ok(bytes(resources.requests.memory) <= bytes(resources.limits.memory));
});

test("node-local values come from the Node object: no CIDR or node address in the DaemonSet", () => {
  const ds = JSON.stringify(deployObject("DaemonSet", "wasmplane-agent"));
  assert.not.match(ds, /\d+\.\d+\.\d+\.\d+\/\d+/, "no IPv4 CIDR");
  const config = agentConfig();
  assert.is(config.nodeName, "node-1");
  assert.equal(config.nodeIPs, [], "node IPs are found on the node");
  assert.is(config.nodeZone, undefined);
  const file = parseYaml(deployObject("ConfigMap", "wasmplane-config").data["config.yaml"]);
  for (const key of ["nodeName", "nodeIPs", "nodeIP", "nodeZone", "netns"])
    assert.not.ok(key in file, `the cluster-wide ConfigMap sets the node-local ${key}`);
  // Pod networking is on, with policy: the DaemonSet is the whole node agent.
  assert.ok(Object.keys(config.cni).length > 0 && config.cni.enabled !== false);
  assert.ok(config.policy.enabled);
  assert.ok(config.kubernetes);
});

test("the DaemonSet and the ConfigMap show where to set --apiserver / apiServer", () => {
  const raw = (file: string) => readFileSync(join(deployDir, file), "utf8");
  assert.match(raw("agent-daemonset.yaml"), /#\s*- --apiserver=https:\/\//);
  assert.match(raw("agent-config.yaml"), /#\s*apiServer: https:\/\//);
});

test.run();
