// The status page: one HTML document with an inline script that fetches `status` (the agent's
// status JSON) and `connections` (conntrack counts per backend) relative to its own URL, so it works
// behind `kubectl port-forward` or a path prefix, and renders them with plain DOM calls (text is
// always set through textContent, never parsed as HTML). The sync plot is an inline SVG.

const STYLE = `
body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; margin: 0 0 .3em; } h2 { font-size: 1.1em; margin: 1.4em 0 .4em; }
table { border-collapse: collapse; } td, th { border-bottom: 1px solid #ddd; padding: 3px 10px 3px 0;
  text-align: left; vertical-align: top; }
code, .mono { font-family: ui-monospace, monospace; font-size: 13px; }
.endpoint { display: block; } .not-ready, .terminating { color: #a60; } .refused, .problem { color: #b00; }
.muted { color: #777; } #error { color: #b00; font-weight: bold; }
`;

const SCRIPT = `
"use strict";
const el = (tag, attrs, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
};
const table = (head, rows) => el("table", {}, el("tr", {}, ...head.map((h) => el("th", {}, h))), ...rows);
const fill = (id, ...nodes) => document.getElementById(id).replaceChildren(...nodes);

function renderSummary(st) {
  const last = st.lastSync;
  fill("summary",
    "node " + st.node + (st.netns ? " (netns " + st.netns + ")" : "") + ", source " + st.source +
    ", agent pid " + (st.pid ?? "?") + ", version " + (st.version ?? "?") + ", started " + st.startedAt +
    "; syncs " + st.syncs.total + " (" + st.syncs.failed + " failed); last sync " +
    (last ? last.at + (last.ok ? " ok" : " FAILED") : "none yet"));
}

function renderProblems(st) {
  fill("problems", st.problems.length === 0
    ? el("p", { class: "muted", "data-none": "problems" }, "none")
    : el("ul", {}, ...st.problems.map((p) => el("li", { class: "problem" }, p))));
}

function endpointNode(e, conns) {
  const c = conns.available ? conns.counts[e.address] : undefined;
  const count = c ? "  " + c.tcp + " tcp / " + c.udp + " udp" : "";
  const counted = c ? { "data-tcp": c.tcp, "data-udp": c.udp } : {};
  return el("span", { class: "endpoint mono " + e.state, "data-address": e.address, ...counted },
    e.address + (e.state === "ready" ? "" : " (" + e.state + ")") + count);
}

function algorithmText(st, s) {
  if (!s.lbAlgorithm) return "(default)";
  const p = (st.lbPlugins ?? []).find((p) => p.algorithm === s.lbAlgorithm);
  return s.lbAlgorithm + (p ? " (plugin " + (p.version ?? "?") + ", sha256 " + (p.sha256 ?? "-").slice(0, 12) + ")" : "");
}

function renderServices(st, conns) {
  const rows = st.services.map((s) => el("tr", { "data-service": s.key },
    el("td", { class: "mono service-key" }, s.key), el("td", {}, s.type),
    el("td", { class: "mono" }, [...s.clusterIPs, ...s.externalIPs, ...s.loadBalancerIPs].join(", ") || "(none)"),
    el("td", { class: "mono" }, s.ports.join("; ")),
    el("td", {}, algorithmText(st, s)),
    el("td", { class: "endpoints" }, ...(s.endpoints.length ? s.endpoints.map((e) => endpointNode(e, conns)) : ["none"]))));
  const note = conns.available ? "connection counts from conntrack"
    : "no connection counts: " + conns.reason;
  fill("services", table(["service", "type", "IPs", "ports", "LB algorithm", "endpoints"], rows),
    el("p", { class: "muted", id: "conntrack-note" }, note));
}

function renderPlugins(st) {
  if (!st.lbPlugins) return fill("plugins", el("p", { class: "muted" }, "no Wasm LB plugin host configured"));
  fill("plugins", table(["algorithm", "module", "version", "sha256", "grants", "health"], st.lbPlugins.map((p) =>
    el("tr", { "data-plugin": p.algorithm, "data-sha256": p.sha256 ?? "" }, el("td", {}, p.algorithm),
      el("td", { class: "mono" }, p.path), el("td", { class: "plugin-version" }, p.version ?? "?"),
      el("td", { class: "mono" }, p.sha256 ? p.sha256.slice(0, 16) + "…" : "-"),
      el("td", { class: "plugin-grants", "data-grants": (p.grants ?? []).join(",") },
        p.grants ? (p.grants.length ? p.grants.join(", ") : "none") : "-"),
      el("td", { class: p.refused ? "refused" : "" }, p.refused ? "REFUSED: " + p.refused : p.sha256 ? "loaded" : "not loaded")))));
}

function policyText(d) {
  return d ? (d.isolated ? "isolated" : "open") + ", " + d.rules + " rules, by " + d.selectedBy.join(", ") : "not policed";
}

function renderPods(st) {
  const pods = new Map();
  for (const a of st.podNetworking?.allocations ?? []) {
    const key = a.pod ?? a.containerId + "/" + a.ifName;
    pods.set(key, [...(pods.get(key) ?? []), a.ip]);
  }
  const policies = new Map((st.policy?.pods ?? []).map((p) => [p.pod, p]));
  for (const p of policies.keys()) if (!pods.has(p)) pods.set(p, []);
  if (pods.size === 0) return fill("pods", el("p", { class: "muted" }, st.podNetworking ? "none" : "pod networking not mounted"));
  fill("pods", table(["pod", "IPs", "ingress", "egress"], [...pods].map(([pod, ips]) => {
    const p = policies.get(pod);
    return el("tr", { "data-pod": pod }, el("td", { class: "mono" }, pod), el("td", { class: "mono pod-ips" }, ips.join(", ")),
      el("td", {}, policyText(p?.ingress)), el("td", {}, policyText(p?.egress)));
  })));
}

const SVG = "http://www.w3.org/2000/svg";
const svgEl = (tag, attrs, text) => {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
};
const PATH_COLORS = { netlink: "#2b6cb0", text: "#dd6b20", json: "#d69e2e" };

function renderSyncs(st) {
  const syncs = st.recentSyncs ?? (st.lastSync ? [st.lastSync] : []);
  if (syncs.length === 0) return fill("syncs", el("p", { class: "muted" }, "no syncs yet"));
  const W = 640, H = 150, pad = 40, bw = Math.min(24, Math.max(2, Math.floor((W - 2 * pad) / syncs.length) - 2));
  const maxMs = Math.max(1, ...syncs.map((s) => s.durationMs));
  const maxBytes = Math.max(1, ...syncs.map((s) => s.bytes));
  const svg = svgEl("svg", { width: W, height: H + 10, viewBox: "0 0 " + W + " " + (H + 10), id: "sync-plot" });
  const points = [];
  syncs.forEach((s, i) => {
    const x = pad + i * (bw + 2), h = Math.max(1, ((H - pad) * s.durationMs) / maxMs);
    const bar = svgEl("rect", { x, y: H - h, width: bw, height: h, class: "sync-bar",
      fill: s.ok ? PATH_COLORS[s.path] ?? "#999" : "#c53030" });
    bar.append(svgEl("title", {}, s.at + ": " + s.durationMs.toFixed(1) + " ms, " + s.operations + " ops, " +
      s.bytes + " bytes" + (s.path ? " via " + s.path : "") + (s.ok ? "" : ", FAILED: " + (s.error ?? ""))));
    svg.append(bar);
    points.push((x + bw / 2) + "," + (H - ((H - pad) * s.bytes) / maxBytes));
  });
  svg.append(svgEl("polyline", { points: points.join(" "), fill: "none", stroke: "#222", "stroke-width": 1.5 }));
  svg.append(svgEl("line", { x1: pad, y1: H, x2: W - pad, y2: H, stroke: "#888" }));
  svg.append(svgEl("text", { x: 0, y: pad, "font-size": 11 }, maxMs.toFixed(0) + " ms"));
  svg.append(svgEl("text", { x: 0, y: H, "font-size": 11 }, "0"));
  fill("syncs", svg, el("p", { class: "muted" }, "last " + syncs.length + " syncs, oldest first. Bars: duration " +
    "(max " + maxMs.toFixed(1) + " ms; blue: netlink, orange: nft text/json, grey: nothing sent, red: failed). " +
    "Line: bytes sent (max " + maxBytes + "). Hover a bar for its details."));
}

async function refresh() {
  try {
    const st = await (await fetch("status", { cache: "no-store" })).json();
    const conns = await fetch("connections", { cache: "no-store" }).then((r) => r.json())
      .catch((e) => ({ available: false, reason: String(e) }));
    renderSummary(st); renderProblems(st); renderServices(st, conns); renderPlugins(st); renderPods(st); renderSyncs(st);
    fill("error");
    document.body.dataset.rendered = String(Number(document.body.dataset.rendered ?? 0) + 1);
  } catch (e) {
    fill("error", "cannot read the agent status: " + e);
  }
}
refresh();
setInterval(refresh, 5000);
`;

export function statusPageHtml(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>wasmplane status</title>
<meta name="viewport" content="width=device-width"><style>${STYLE}</style></head>
<body>
<h1>wasmplane status</h1><div id="summary" class="muted">loading…</div><div id="error"></div>
<h2>Problems</h2><div id="problems"></div>
<h2>Services</h2><div id="services"></div>
<h2>LB plugins</h2><div id="plugins"></div>
<h2>Pods</h2><div id="pods"></div>
<h2>Last syncs</h2><div id="syncs"></div>
<script>${SCRIPT}</script>
</body></html>
`;
}
