import { suite } from "uvu";
import * as assert from "uvu/assert";
import { NodeShell, runNodeScript } from "../../runtime/cni/netexec.ts";
import { CniError } from "../../runtime/cni/spec.ts";

const test = suite("cni node shell");

test("runs scripts in order in one shell, with status and output; survives failures and timeouts", async () => {
  const shell = new NodeShell(undefined);
  try {
    const [a, b] = await Promise.all([shell.run("echo one; echo two >&2"), shell.run("exit 3")]);
    assert.equal(a, { code: 0, output: "one\ntwo\n\n" });
    assert.is(b.code, 3);
    assert.is(await runNodeScript(shell, "printf 'no newline'", "x"), "no newline");
    try {
      await runNodeScript(shell, "echo broken >&2; false", "doing a thing");
      assert.unreachable();
    } catch (err) {
      assert.instance(err, CniError);
      assert.is((err as CniError).code, 103);
      assert.match((err as Error).message, "doing a thing: broken");
    }
    const timedOut = await shell.run("sleep 5", 100).then(
      () => "answered",
      (err: Error) => err.message,
    );
    assert.match(timedOut, "no answer within 100 ms");
    assert.is(await runNodeScript(shell, "echo alive", "after timeout"), "alive\n");
  } finally {
    shell.close();
  }
});

test.run();
