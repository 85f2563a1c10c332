// Kubeconfig files for a dev cluster, with the certificates inlined so that the file stands alone.
import { readFileSync } from "node:fs";

export type Credentials = { clientCert: string; clientKey: string } | { token: string };

export interface KubeconfigSpec {
  server: string;
  /** PEM of the CA that signed the serving certificate. */
  caPem: string;
  user: string;
  credentials: Credentials;
}

const b64 = (pem: string) => Buffer.from(pem).toString("base64");

/** Renders a kubeconfig (JSON is YAML, and needs no escaping care). */
export function renderKubeconfig(spec: KubeconfigSpec): string {
  const user =
    "token" in spec.credentials
      ? { token: spec.credentials.token }
      : {
          "client-certificate-data": b64(spec.credentials.clientCert),
          "client-key-data": b64(spec.credentials.clientKey),
        };
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      { name: "devcluster", cluster: { server: spec.server, "certificate-authority-data": b64(spec.caPem) } },
    ],
    users: [{ name: spec.user, user }],
    contexts: [{ name: "devcluster", context: { cluster: "devcluster", user: spec.user } }],
    "current-context": "devcluster",
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** The admin kubeconfig from the PKI files. */
export function adminKubeconfig(
  server: string,
  files: { caCert: string; adminCert: string; adminKey: string },
) {
  return renderKubeconfig({
    server,
    caPem: readFileSync(files.caCert, "utf8"),
    user: "admin",
    credentials: {
      clientCert: readFileSync(files.adminCert, "utf8"),
      clientKey: readFileSync(files.adminKey, "utf8"),
    },
  });
}
