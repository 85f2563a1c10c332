// The Kubernetes source against a real kube-apiserver (wasmplane devcluster): lists in pages with
// the server's own continue tokens, kube-proxy's label selector applied by the server (a label added
// to a served Service arrives as a delete, removed as an add), and the healthCheckNodePort the API
// server allocates for an externalTrafficPolicy Local load balancer reaching the store.
import { KubeConfig } from "@kubernetes/client-node";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { planHealthCheckPorts } from "../../runtime/health/service-health-plan.ts";
import { KubernetesSource } from "../../runtime/sources/kubernetes.ts";
import type { SourceEvent } from "../../runtime/sources/source.ts";
import { Store } from "../../runtime/store/store.ts";
import { clusterTest, serviceYaml, sliceYaml, startTestCluster } from "../devcluster/support.ts";

const test = suite("kubernetes source on a real kube-apiserver");

async function waitFor(check: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function labelled(yaml: string, labels: string): string {
  return yaml.replace(
    /metadata: \{name: ([^,]+), namespace: ([^}]+)\}/,
    `metadata: {name: $1, namespace: $2, labels: {${labels}}}`,
  );
}

clusterTest(
  test,
  "pages, the proxy label selector and healthCheckNodePort, served by the API server",
  async () => {
    // kube-apiserver 1.37 refuses a loopback advertise address with the default endpoint reconciler.
    const k = await startTestCluster("src", { apiserverArgs: ["--endpoint-reconciler-type=none"] });
    const events: SourceEvent[] = [];
    const store = new Store();
    let source: KubernetesSource | null = null;
    try {
      k.kubectl(["create", "namespace", "t"]);
      const docs = [1, 2, 3, 4, 5].map((i) => serviceYaml("t", `s${i}`, `10.96.1.${i}`));
      docs.push(
        labelled(serviceYaml("t", "theirs", "10.96.1.20"), "service.kubernetes.io/service-proxy-name: other"),
      );
      docs.push(labelled(serviceYaml("t", "hl", "10.96.1.21"), "service.kubernetes.io/headless: ''"));
      docs.push(sliceYaml("t", "s1", ["10.244.1.2"]));
      docs.push(
        sliceYaml("t", "theirs", ["10.244.1.3"]).replace(
          "labels: {kubernetes.io/service-name: theirs}",
          "labels: {kubernetes.io/service-name: theirs, service.kubernetes.io/service-proxy-name: other}",
        ),
      );
      docs.push(`apiVersion: v1
kind: Service
metadata: {name: lb, namespace: t}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  ports: [{name: http, port: 80, targetPort: 8080}]
`);
      k.kubectl(["apply", "-f", "-"], docs.join("---\n"));

      const kubeConfig = new KubeConfig();
      kubeConfig.loadFromFile(k.cluster.layout.kubeconfig);
      source = new KubernetesSource({ kubeConfig, kinds: ["Service", "EndpointSlice"], pageSize: 2 });
      let synced = false;
      await source.start({
        events: (e) => {
          events.push(...e);
          store.apply(e);
        },
        synced: () => {
          synced = true;
        },
        problems: () => {},
      });
      await waitFor(() => synced, "the first listing");
      const services = () =>
        [...store.snapshot().services.keys()].filter((key) => key.startsWith("t/")).sort();
      // 6 Services in t (and `kubernetes` in default) need 4 pages of 2: every one arrives.
      assert.equal(services(), ["t/lb", "t/s1", "t/s2", "t/s3", "t/s4", "t/s5"]);
      assert.equal([...store.snapshot().endpointSlices.keys()], ["t/s1-1"]);
      assert.ok(store.snapshot().services.has("default/kubernetes"));

      const lb = store.snapshot().services.get("t/lb");
      assert.ok(
        lb?.healthCheckNodePort && lb.healthCheckNodePort >= 30000,
        `allocated: ${lb?.healthCheckNodePort}`,
      );
      assert.equal(
        [...planHealthCheckPorts(store.snapshot(), "n1").values()].map((p) => p.port),
        [lb?.healthCheckNodePort],
      );

      // Another proxy takes s2 over: the server's filtered watch says it is gone; handing it back adds it.
      events.length = 0;
      k.kubectl(["label", "service", "s2", "-n", "t", "service.kubernetes.io/service-proxy-name=other"]);
      await waitFor(() => !services().includes("t/s2"), "s2 to leave");
      assert.equal(
        events.map((e) => `${e.type} ${e.key}`),
        ["delete t/s2"],
      );
      k.kubectl(["label", "service", "s2", "-n", "t", "service.kubernetes.io/service-proxy-name-"]);
      await waitFor(() => services().includes("t/s2"), "s2 to come back");
    } finally {
      await source?.stop();
      await k.stop();
    }
  },
);

test.run();
