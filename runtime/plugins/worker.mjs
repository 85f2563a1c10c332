// The thread one plugin runs in (plain JavaScript so it starts without the tsx loader). It owns one
// instance; the host writes an input envelope into the shared data buffer, flips the state word and
// waits; this thread runs `wasmplane_call` and writes the output back. A spinning plugin is stopped
// by the host terminating this worker; a trap discards the instance and a fresh one is made.
import { parentPort, workerData } from "node:worker_threads";

const STATE = 0;
const LENGTH = 1;
const RESULT = 2;
const SEED = 3;
const MEMORY_BYTES = 4;
const IDLE = 0;
const REQUEST = 1;
const DONE = 2;
const STOP = 3;
const RESULT_OK = 0;
const RESULT_TRAP = 1;
const RESULT_PROTOCOL = 2;
const MAX_LOG_LINES_PER_CALL = 64;
const MAX_LOG_LINE_BYTES = 1024;

const { module, memory: memorySpec, grants, ctrl: ctrlBuffer, data: dataBuffer } = workerData;
const ctrl = new Int32Array(ctrlBuffer);
const data = new Uint8Array(dataBuffer);
const decoder = new TextDecoder();
const encoder = new TextEncoder();

let instance = null;
let memory = null;
let rngState = 1;
let logLines = 0;

class ProtocolError extends Error {}

function makeImports() {
  const env = {};
  const wasmplane = {};
  if (memorySpec.imported) {
    memory = new WebAssembly.Memory({ initial: memorySpec.initialPages, maximum: memorySpec.maximumPages });
    env.memory = memory;
  }
  if (grants.includes("log")) {
    wasmplane.log = (ptr, len) => {
      if (logLines >= MAX_LOG_LINES_PER_CALL) return;
      logLines++;
      const p = ptr >>> 0;
      const n = Math.min(len >>> 0, MAX_LOG_LINE_BYTES);
      if (p + n > memory.buffer.byteLength) return;
      parentPort.postMessage({
        type: "log",
        line: decoder.decode(new Uint8Array(memory.buffer, p, n).slice()),
      });
    };
  }
  if (grants.includes("random")) {
    // xorshift32, reseeded by the host before every call: same input and seed, same answer.
    wasmplane.random_u32 = () => {
      let x = rngState;
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      rngState = x >>> 0;
      return x | 0;
    };
  }
  if (grants.includes("clock")) wasmplane.clock_ms = () => Date.now();
  return { env, wasmplane };
}

function instantiate() {
  instance = new WebAssembly.Instance(module, makeImports());
  if (!memorySpec.imported) memory = instance.exports.memory;
}

function callOnce(inputLength) {
  const ex = instance.exports;
  const inPtr = ex.wasmplane_alloc(inputLength) >>> 0;
  if (inPtr === 0 || inPtr + inputLength > memory.buffer.byteLength) {
    throw new ProtocolError(`wasmplane_alloc(${inputLength}) returned an unusable address ${inPtr}`);
  }
  new Uint8Array(memory.buffer, inPtr, inputLength).set(data.subarray(0, inputLength));
  const outPtr = ex.wasmplane_call(inPtr, inputLength) >>> 0;
  const view = new DataView(memory.buffer);
  if (outPtr === 0 || outPtr + 16 > memory.buffer.byteLength) {
    throw new ProtocolError(`wasmplane_call returned an unusable address ${outPtr}`);
  }
  const outLength = view.getUint32(outPtr, true);
  if (outLength < 16 || outPtr + outLength > memory.buffer.byteLength) {
    throw new ProtocolError(`wasmplane_call returned an output length ${outLength} outside its memory`);
  }
  if (outLength > data.length) {
    throw new ProtocolError(`output of ${outLength} bytes exceeds the ${data.length}-byte exchange buffer`);
  }
  data.set(new Uint8Array(memory.buffer, outPtr, outLength));
  ex.wasmplane_free(outPtr);
  ex.wasmplane_free(inPtr);
  return outLength;
}

function reportError(result, err) {
  const message = encoder.encode(err instanceof Error ? err.message || err.name : String(err));
  const n = Math.min(message.length, data.length);
  data.set(message.subarray(0, n));
  Atomics.store(ctrl, LENGTH, n);
  Atomics.store(ctrl, RESULT, result);
}

try {
  instantiate();
  parentPort.postMessage({ type: "ready" });
} catch (err) {
  parentPort.postMessage({ type: "failed", message: err instanceof Error ? err.message : String(err) });
  process.exit(0);
}

for (;;) {
  let state = Atomics.load(ctrl, STATE);
  while (state === IDLE || state === DONE) {
    Atomics.wait(ctrl, STATE, state);
    state = Atomics.load(ctrl, STATE);
  }
  if (state === STOP) break;
  if (state !== REQUEST) continue;
  rngState = Atomics.load(ctrl, SEED) >>> 0 || 1;
  logLines = 0;
  let discard = false;
  try {
    if (!instance) instantiate();
    const n = callOnce(Atomics.load(ctrl, LENGTH));
    Atomics.store(ctrl, LENGTH, n);
    Atomics.store(ctrl, RESULT, RESULT_OK);
  } catch (err) {
    discard = true;
    let detail = err;
    if (memory && !(err instanceof ProtocolError)) {
      const mib = (bytes) => (bytes / 1048576).toFixed(1);
      const cap = memorySpec.maximumPages * 65536;
      detail = new Error(
        `${err.message} (memory ${mib(memory.buffer.byteLength)} of its ${mib(cap)} MiB cap)`,
      );
    }
    reportError(err instanceof ProtocolError ? RESULT_PROTOCOL : RESULT_TRAP, detail);
  }
  Atomics.store(ctrl, MEMORY_BYTES, memory ? memory.buffer.byteLength : 0);
  Atomics.store(ctrl, STATE, DONE);
  Atomics.notify(ctrl, STATE);
  if (discard) {
    // After any trap the instance may hold broken state; a fresh one costs well under a millisecond.
    instance = null;
    memory = null;
    try {
      instantiate();
    } catch {
      instance = null;
    }
  }
}
