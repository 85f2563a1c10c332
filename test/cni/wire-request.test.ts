// The agent checks every request on its socket as the executable does: a client of the socket need
// not be the executable. Each refusal is a CniError with the spec's code and names the field.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { CniError, ErrorCode } from "../../runtime/cni/spec.ts";
import { validateWireRequest } from "../../runtime/cni/wire-request.ts";

const test = suite("cni wire request");

const full = {
  command: "ADD",
  containerId: "abc",
  netns: "/run/netns/x",
  ifName: "eth0",
  args: { K8S_POD_NAMESPACE: "ns", K8S_POD_NAME: "p" },
  path: "/opt/cni/bin",
};

const request = (env: Record<string, unknown>) => ({ env, config: { cniVersion: "1.1.0" } });

function refusal(env: Record<string, unknown>): [number, string] {
  try {
    validateWireRequest(request(env));
  } catch (err) {
    assert.instance(err, CniError);
    return [(err as CniError).code, (err as Error).message];
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
}

test("a complete request is accepted as sent", () => {
  assert.equal(validateWireRequest(request(full)), request(full));
  // DEL does not need a namespace; GC, STATUS and VERSION need none of the attachment fields.
  validateWireRequest(request({ ...full, command: "DEL", netns: "" }));
  for (const command of ["GC", "STATUS", "VERSION"])
    validateWireRequest(request({ ...full, command, containerId: "", netns: "", ifName: "" }));
  validateWireRequest(request({ ...full, netns: "/proc/1234/ns/net" }));
});

test("a malformed request is code 6 naming the field", () => {
  assert.equal(
    (() => {
      try {
        validateWireRequest({ env: full });
      } catch (err) {
        return [(err as CniError).code, (err as Error).message];
      }
    })(),
    [ErrorCode.decodeFailure, "request: want {env, config}"],
  );
  assert.equal(refusal({ ...full, ifName: 3 }), [
    ErrorCode.decodeFailure,
    "request: env.ifName must be a string",
  ]);
  assert.equal(refusal({ ...full, args: null }), [
    ErrorCode.decodeFailure,
    "request: env.args must be an object",
  ]);
});

test("a missing or bad attachment field is code 4 naming it", () => {
  assert.equal(refusal({ ...full, netns: "" }), [
    ErrorCode.invalidEnvironment,
    "request: ADD needs env.netns",
  ]);
  assert.equal(refusal({ ...full, command: "CHECK", containerId: "" }), [
    ErrorCode.invalidEnvironment,
    "request: CHECK needs env.containerId",
  ]);
  assert.is(refusal({ ...full, containerId: "-bad" })[0], ErrorCode.invalidEnvironment);
  assert.match(refusal({ ...full, containerId: "-bad" })[1], "CNI_CONTAINERID: '-bad'");
  for (const netns of ["relative/path", "/run/netns/a b", '/run/netns/"x"', "/run/netns/x\nEOF"]) {
    const [code, message] = refusal({ ...full, netns });
    assert.is(code, ErrorCode.invalidEnvironment, netns);
    assert.match(message, "CNI_NETNS:", netns);
  }
  assert.match(refusal({ ...full, ifName: "a/b" })[1], "CNI_IFNAME: 'a/b' is not a valid interface name");
});

test.run();
