// One process per pod network namespace of the policy truth table (`ip netns exec NS node
// probe-pod.mjs NAME`): it serves TCP and UDP on ports 80 and 81, answering with the pod's name, and
// probes other pods on command. Commands arrive as JSON lines on stdin, answers leave as JSON lines on
// stdout carrying the command's id; the process exits when stdin closes (its test is gone).
//
//   {"id":1,"op":"probe","targets":[{"to":"y/b","ip":"10.73.1.33"}],"kinds":["tcp/80"],"timeoutMs":1000}
//     -> {"id":1,"results":[{"to":"y/b","kind":"tcp/80","ok":true,"answer":"y/b","error":null,"ms":2}]}
//   {"id":2,"op":"open","conn":"c1","ip":"10.73.1.33","port":80,"timeoutMs":1000}  (a held TCP connection)
//   {"id":3,"op":"echo","conn":"c1","text":"hello","timeoutMs":1000}             (a line over it, echoed)
//   {"id":4,"op":"close","conn":"c1"}
import dgram from "node:dgram";
import net from "node:net";
import readline from "node:readline";

const name = process.argv[2];
const ports = [80, 81];
const connections = new Map();
// UDP probes bind their source port from this rotating range (below the kernel's ephemeral range):
// a fresh 5-tuple per probe, so no probe can ride on the conntrack entry of an earlier probe that a
// policy allowed before it changed (UDP entries live 30 s and more).
const udpPorts = { next: 20000, first: 20000, last: 29999 };

function send(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

function serveTcp(port) {
  return new Promise((resolve, reject) => {
    const server = net.createServer((socket) => {
      socket.on("error", () => {});
      socket.setEncoding("utf8");
      socket.write(`${name}\n`);
      let buffer = "";
      socket.on("data", (chunk) => {
        buffer += chunk;
        for (let i = buffer.indexOf("\n"); i >= 0; i = buffer.indexOf("\n")) {
          socket.write(`${buffer.slice(0, i)}\n`);
          buffer = buffer.slice(i + 1);
        }
      });
    });
    server.once("error", reject);
    server.listen(port, "0.0.0.0", () => resolve(server));
  });
}

function serveUdp(port) {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket("udp4");
    socket.on("message", (_message, peer) => socket.send(name, peer.port, peer.address));
    socket.once("error", reject);
    socket.bind(port, "0.0.0.0", () => resolve(socket));
  });
}

/** Resolves once with the first outcome; later calls are ignored. */
function settle(resolve, cleanup) {
  const started = Date.now();
  let done = false;
  return (ok, answer, error) => {
    if (done) return;
    done = true;
    cleanup();
    resolve({ ok, answer, error, ms: Date.now() - started });
  };
}

function probeTcp(ip, port, timeoutMs) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: ip, port });
    const timer = setTimeout(() => finish(false, "", "timeout"), timeoutMs);
    const finish = settle(resolve, () => {
      clearTimeout(timer);
      socket.destroy();
    });
    let data = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk) => {
      data += chunk;
      const end = data.indexOf("\n");
      if (end >= 0) finish(true, data.slice(0, end), null);
    });
    socket.on("error", (err) => finish(false, "", err.code ?? err.message));
    socket.on("end", () => finish(false, data, "closed without an answer"));
  });
}

function nextUdpPort() {
  const port = udpPorts.next;
  udpPorts.next = port >= udpPorts.last ? udpPorts.first : port + 1;
  return port;
}

function probeUdp(ip, port, timeoutMs) {
  return new Promise((resolve) => {
    const socket = dgram.createSocket("udp4");
    const timers = [setTimeout(() => finish(false, "", "timeout"), timeoutMs)];
    const finish = settle(resolve, () => {
      for (const t of timers) clearTimeout(t);
      socket.close();
    });
    socket.on("message", (message) => finish(true, message.toString(), null));
    socket.on("error", (err) => finish(false, "", err.code ?? err.message));
    // Three sends spread over the window: one lost datagram is not a denial.
    const sendOne = () => socket.send("probe", port, ip, () => {});
    socket.bind(nextUdpPort(), "0.0.0.0", () => {
      sendOne();
      timers.push(setTimeout(sendOne, timeoutMs / 3), setTimeout(sendOne, (2 * timeoutMs) / 3));
    });
  });
}

async function probe(command) {
  const jobs = [];
  for (const target of command.targets) {
    for (const kind of command.kinds) {
      const [protocol, port] = kind.split("/");
      const run = protocol === "tcp" ? probeTcp : probeUdp;
      jobs.push(run(target.ip, Number(port), command.timeoutMs).then((r) => ({ to: target.to, kind, ...r })));
    }
  }
  return { results: await Promise.all(jobs) };
}

function open(command) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: command.ip, port: command.port });
    const timer = setTimeout(() => {
      socket.destroy();
      finish(false, "", "timeout");
    }, command.timeoutMs);
    const finish = settle(
      (r) => resolve(r.ok ? { ok: true, answer: r.answer } : { ok: false, error: r.error }),
      () => clearTimeout(timer),
    );
    const state = { socket, buffer: "", waiting: null, closed: null };
    socket.setEncoding("utf8");
    socket.on("error", (err) => {
      state.closed = err.code ?? err.message;
      finish(false, "", state.closed);
    });
    socket.on("close", () => {
      state.closed = state.closed ?? "closed";
    });
    socket.on("data", (chunk) => {
      state.buffer += chunk;
      for (let i = state.buffer.indexOf("\n"); i >= 0; i = state.buffer.indexOf("\n")) {
        const line = state.buffer.slice(0, i);
        state.buffer = state.buffer.slice(i + 1);
        if (state.waiting) state.waiting(line);
        else {
          connections.set(command.conn, state);
          finish(true, line, null);
        }
      }
    });
  });
}

function echo(command) {
  const state = connections.get(command.conn);
  if (!state) return Promise.resolve({ ok: false, error: `no connection ${command.conn}` });
  if (state.closed) return Promise.resolve({ ok: false, error: state.closed });
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      state.waiting = null;
      resolve({ ok: false, error: "timeout" });
    }, command.timeoutMs);
    state.waiting = (line) => {
      clearTimeout(timer);
      state.waiting = null;
      resolve({ ok: line === command.text, answer: line });
    };
    state.socket.write(`${command.text}\n`);
  });
}

function close(command) {
  connections.get(command.conn)?.socket.destroy();
  connections.delete(command.conn);
  return Promise.resolve({ ok: true });
}

const operations = { probe, open, echo, close };

async function handle(line) {
  let command;
  try {
    command = JSON.parse(line);
  } catch {
    send({ id: null, error: `not JSON: ${line}` });
    return;
  }
  const operation = operations[command.op];
  if (!operation) {
    send({ id: command.id, error: `unknown op ${command.op}` });
    return;
  }
  try {
    send({ id: command.id, ...(await operation(command)) });
  } catch (err) {
    send({ id: command.id, error: err.message });
  }
}

try {
  await Promise.all([...ports.map(serveTcp), ...ports.map(serveUdp)]);
} catch (err) {
  send({ failed: `${name}: cannot listen: ${err.message}` });
  process.exit(1);
}
const input = readline.createInterface({ input: process.stdin });
input.on("line", (line) => void handle(line));
input.on("close", () => process.exit(0));
send({ ready: name });
