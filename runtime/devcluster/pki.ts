// Certificates and keys of a dev cluster, made with the openssl command line (Node can parse
// certificates but not issue them): a CA, the API server's serving certificate, an admin client
// certificate in group system:masters, and the service-account signing key pair. ECDSA P-256
// throughout: fast to generate and accepted everywhere Kubernetes reads keys.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface Pki {
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  adminCert: string;
  adminKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
}

export function pkiPaths(dir: string): Pki {
  const f = (name: string) => join(dir, name);
  return {
    caCert: f("ca.crt"),
    caKey: f("ca.key"),
    servingCert: f("apiserver.crt"),
    servingKey: f("apiserver.key"),
    adminCert: f("admin.crt"),
    adminKey: f("admin.key"),
    serviceAccountKey: f("sa.key"),
    serviceAccountPub: f("sa.pub"),
  };
}

function openssl(args: string[]): void {
  try {
    execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === "ENOENT") throw new Error("openssl not found: install it (apt-get install openssl)");
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString().trim() || e.message}`);
  }
}

const days = "3650";

function newKey(path: string): void {
  openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path]);
}

/** A certificate for `subject` signed by the CA, with exactly the extensions given. */
function issue(pki: Pki, dir: string, name: string, subject: string, extensions: string[]): void {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  newKey(key);
  openssl(["req", "-new", "-key", key, "-subj", subject, "-out", csr]);
  writeFileSync(ext, `${extensions.join("\n")}\n`);
  openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    pki.caCert,
    "-CAkey",
    pki.caKey,
    "-CAcreateserial",
    "-days",
    days,
    "-extfile",
    ext,
    "-out",
    join(dir, `${name}.crt`),
  ]);
  rmSync(csr);
  rmSync(ext);
}

/** The names the API server answers to: loopback, and the `kubernetes` Service's ClusterIP and names. */
export function servingNames(kubernetesServiceIP: string): string[] {
  return [
    "IP:127.0.0.1",
    "DNS:localhost",
    `IP:${kubernetesServiceIP}`,
    "DNS:kubernetes",
    "DNS:kubernetes.default",
    "DNS:kubernetes.default.svc",
    "DNS:kubernetes.default.svc.cluster.local",
  ];
}

/** Creates the PKI in `dir` unless it is already there (a restart keeps its certificates). */
export function ensurePki(dir: string, kubernetesServiceIP: string): Pki {
  const pki = pkiPaths(dir);
  if (Object.values(pki).every((p) => existsSync(p))) return pki;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  newKey(pki.caKey);
  openssl([
    "req",
    "-x509",
    "-new",
    "-key",
    pki.caKey,
    "-subj",
    "/CN=wasmplane-devcluster-ca",
    "-days",
    days,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
    "-out",
    pki.caCert,
  ]);
  const leaf = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature"];
  issue(pki, dir, "apiserver", "/CN=kube-apiserver", [
    ...leaf,
    "extendedKeyUsage=serverAuth",
    `subjectAltName=${servingNames(kubernetesServiceIP).join(",")}`,
  ]);
  issue(pki, dir, "admin", "/O=system:masters/CN=wasmplane-devcluster-admin", [
    ...leaf,
    "extendedKeyUsage=clientAuth",
  ]);
  newKey(pki.serviceAccountKey);
  openssl(["pkey", "-in", pki.serviceAccountKey, "-pubout", "-out", pki.serviceAccountPub]);
  return pki;
}
