// The metrics and log flags: defaults as kube-proxy, file keys, and errors that name the flag.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ConfigError, parseAgentArgs } from "../../runtime/agent/config.ts";

const test = suite("metrics and log config");

function config(args: string[], file: Record<string, unknown> = {}) {
  const parsed = parseAgentArgs(["--manifests", "/m", ...args], () => file);
  if (parsed.help) throw new Error("help");
  return parsed.config;
}

test("defaults: metrics on 127.0.0.1:10249, text logs at info", () => {
  const c = config([]);
  assert.is(c.metricsBindAddress, "127.0.0.1:10249");
  assert.is(c.logFormat, "text");
  assert.is(c.logLevel, "info");
});

test("flags and file keys; a flag wins; empty disables metrics", () => {
  const c = config([
    "--metrics-bind-address",
    "0.0.0.0:9100",
    "--log-format",
    "json",
    "--log-level",
    "debug",
  ]);
  assert.is(c.metricsBindAddress, "0.0.0.0:9100");
  assert.is(c.logFormat, "json");
  assert.is(c.logLevel, "debug");
  const f = config(["--config", "c.yaml", "--log-level", "warn"], {
    metricsBindAddress: "",
    logFormat: "json",
    logLevel: "error",
  });
  assert.is(f.metricsBindAddress, "");
  assert.is(f.logFormat, "json");
  assert.is(f.logLevel, "warn");
});

test("bad values name the flag or key", () => {
  assert.throws(
    () => config(["--metrics-bind-address", "localhost"]),
    (e: Error) => e instanceof ConfigError && /--metrics-bind-address/.test(e.message),
  );
  assert.throws(
    () => config(["--log-format", "xml"]),
    (e: Error) => /--log-format: must be one of text, json, got "xml"/.test(e.message),
  );
  assert.throws(
    () => config(["--log-level", "loud"]),
    (e: Error) => /--log-level: must be one of debug, info, warn, error/.test(e.message),
  );
  assert.throws(
    () => config(["--config", "c.yaml"], { logLevel: 3 }),
    (e: Error) => /config c\.yaml: logLevel: must be one of/.test(e.message),
  );
});

test.run();
