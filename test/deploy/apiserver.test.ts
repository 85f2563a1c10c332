// --apiserver / apiServer: the agent reaches the API server at a given URL instead of the
// kubeconfig's (in-cluster: the `kubernetes` Service, unreachable on a node without kube-proxy
// until the agent's own rules exist), keeping the kubeconfig's credentials and CA.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ConfigError, parseAgentArgs } from "../../runtime/agent/config.ts";
import { loadKubeConfig } from "../../runtime/sources/kubernetes.ts";

const test = suite("agent --apiserver");

function config(args: string[], file: Record<string, unknown> = {}) {
  const parsed = parseAgentArgs(args, () => file);
  if (parsed.help) throw new Error("help");
  return parsed.config;
}

test("the flag and the config key set apiServer; the flag wins", () => {
  assert.is(
    config(["--kubernetes", "--apiserver", "https://192.0.2.10:6443/"]).apiServer,
    "https://192.0.2.10:6443",
  );
  assert.is(
    config(["--kubernetes", "--config=c.yaml"], { apiServer: "https://api.example:6443" }).apiServer,
    "https://api.example:6443",
  );
  assert.is(
    config(["--kubernetes", "--config=c.yaml", "--apiserver=https://[2001:db8::1]:6443"], {
      apiServer: "https://a:1",
    }).apiServer,
    "https://[2001:db8::1]:6443",
  );
  assert.is(config(["--kubernetes"]).apiServer, undefined);
});

test("a value that is not an http(s) URL is refused, naming the flag or key", () => {
  for (const bad of ["192.0.2.10:6443", "ftp://x", "https://", ""]) {
    assert.throws(
      () => config(["--kubernetes", `--apiserver=${bad}`]),
      (e: Error) => e instanceof ConfigError && e.message.startsWith("--apiserver: must be a URL"),
      bad,
    );
  }
  assert.throws(
    () => config(["--kubernetes", "--config=c.yaml"], { apiServer: 6443 }),
    (e: Error) => e.message.includes("apiServer"),
  );
});

test("loadKubeConfig replaces the current cluster's server and keeps its CA and credentials", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wpt-apiserver-"));
  try {
    const file = join(dir, "kubeconfig");
    writeFileSync(
      file,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [
          { name: "c", cluster: { server: "https://10.96.0.1:443", "certificate-authority-data": "Q0E=" } },
          { name: "other", cluster: { server: "https://other:443" } },
        ],
        users: [{ name: "u", user: { token: "t0ken" } }],
        contexts: [{ name: "x", context: { cluster: "c", user: "u" } }],
        "current-context": "x",
      }),
    );
    const unchanged = await loadKubeConfig(file);
    assert.is(unchanged.getCurrentCluster()?.server, "https://10.96.0.1:443");
    const kc = await loadKubeConfig(file, "https://192.0.2.10:6443");
    assert.is(kc.getCurrentCluster()?.server, "https://192.0.2.10:6443");
    assert.is(kc.getCurrentCluster()?.caData, "Q0E=");
    assert.is(kc.getCurrentUser()?.token, "t0ken");
    assert.is(kc.getCluster("other")?.server, "https://other:443");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
