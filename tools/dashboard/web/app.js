// app.js — the dashboard's pages, drawn in the browser from the JSON API
// (/api/…, docs/DASHBOARD.md). Plain JavaScript, no libraries, nothing
// loaded from elsewhere. One page per path; live updates come from the
// server-sent events of /api/events.
"use strict";

const S = { config: null, events: null, onTask: null, onEngines: null, timers: [] };
const STATES = ["pending", "ok", "error", "aborted", "unreachable", "lost"];

// esc: text made safe for HTML.
function esc(v) {
  return String(v === null || v === undefined ? "" : v).replace(/[&<>"']/g, (c) =>
    ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// iso: µs since the epoch as ISO 8601 UTC (with ms), or "—".
function iso(us) {
  if (us === null || us === undefined || us === 0) return "—";
  return new Date(us / 1000).toISOString().replace("T", " ").replace("Z", "");
}

function dur(a, b) {
  if (!a || !b) return "—";
  const s = (b - a) / 1e6;
  return s < 1 ? (s * 1000).toFixed(1) + " ms" : s.toFixed(2) + " s";
}

function state(st) {
  return `<span class="state state-${esc(st)}">${esc(st)}</span>`;
}

function taskLink(id, text) {
  return `<a href="/task/${esc(id)}" data-link>${esc(text || id.slice(0, 13) + "…")}</a>`;
}

// api: GET a JSON endpoint; throws Error(reason) on an error reply.
async function api(path, opts) {
  const r = await fetch(path, Object.assign({ credentials: "same-origin" }, opts || {}));
  const type = r.headers.get("Content-Type") || "";
  const body = type.startsWith("application/json") ? await r.json() : await r.text();
  if (!r.ok) {
    const e = new Error((body && body.error) || `HTTP ${r.status}`);
    e.status = r.status;
    throw e;
  }
  return body;
}

function main() { return document.getElementById("main"); }

function showError(e) {
  main().innerHTML = `<h1>${e.status === 404 ? "Not found" : "Error"}</h1>` +
    `<p class="error-box" id="error">${esc(e.message)}</p>`;
}

// every: run fn now and every ms while the page stays.
function every(ms, fn) { S.timers.push(setInterval(fn, ms)); }

// throttle: fn at most once per ms, the last call winning.
function throttle(ms, fn) {
  let t = null;
  return () => { if (!t) t = setTimeout(() => { t = null; fn(); }, ms); };
}

// ------------------------------------------------------------ live events

function startEvents() {
  if (S.events) return;
  const es = new EventSource("/api/events");
  S.events = es;
  es.addEventListener("task", (m) => { if (S.onTask) S.onTask(JSON.parse(m.data)); });
  es.addEventListener("engines", (m) => {
    const d = JSON.parse(m.data);
    setConn(d.online);
    if (S.onEngines) S.onEngines(d);
  });
  es.onerror = () => { document.getElementById("conn").textContent = "reconnecting…"; };
}

function setConn(online) {
  const c = document.getElementById("conn");
  c.textContent = online ? "controller online" : "offline (database only)";
  c.className = "conn " + (online ? "online" : "offline");
}

// ---------------------------------------------------------------- overview

function engineRows(engines) {
  if (!engines.length) return `<tr><td colspan="10" class="muted">no engines recorded</td></tr>`;
  return engines.map((e) => `<tr data-engine="${esc(e.id)}" class="engine">
    <td class="num">${esc(e.id)}</td>
    <td class="${e.up ? "up" : "down"}">${e.recorded ? (e.up ? "registered" : "left") : (e.up ? "up" : "down")}</td>
    <td>${esc(e.hostname || "—")}</td><td class="num">${esc(e.pid || "—")}</td>
    <td>${esc((e.tags || []).join(", ") || "—")}</td>
    <td>${(e.current || []).map((id) => taskLink(id)).join(" ") || "—"}</td>
    <td class="num">${esc(e.queued === undefined ? "—" : e.queued)}</td>
    <td class="num">${esc(e.done)}</td><td class="num">${esc(e.failures)}</td></tr>`).join("");
}

function rateChart(rate, now) {
  const w = 1000, h = 140, n = 30, pts = {};
  for (const p of rate.points) pts[p.t] = p.n;
  let max = 1;
  const bars = [];
  for (let i = 0; i < n; i++) {
    const t = rate.since + i * rate.bucket_s * 1e6;
    const v = (pts[t] || 0) / rate.bucket_s;
    max = Math.max(max, v);
    bars.push([t, v]);
  }
  const bw = w / n;
  const rects = bars.map(([t, v], i) => {
    const bh = (v / max) * (h - 20);
    return `<rect class="rate" x="${i * bw + 1}" y="${h - 15 - bh}" width="${bw - 2}" height="${bh}"><title>${iso(t)}: ${v.toFixed(1)}/s</title></rect>`;
  }).join("");
  return `<svg class="chart" id="rate" viewBox="0 0 ${w} ${h}">${rects}
    <text x="2" y="10">${max.toFixed(1)} tasks/s</text><text x="2" y="${h - 2}">5 min ago</text>
    <text x="${w - 30}" y="${h - 2}">now</text></svg>`;
}

async function pageOverview() {
  main().innerHTML = `<h1>Overview</h1><div id="ov"><p class="muted">Loading…</p></div>
    <h2>Tasks finishing now</h2><ul class="live" id="live-tasks"><li class="muted">waiting for tasks…</li></ul>`;
  let last = null;
  const draw = (o) => {
    last = o;
    const c = o.counts;
    document.getElementById("ov").innerHTML = `
      <div class="cards">
        <div class="card"><div class="v" id="count-total">${esc(c.total)}</div>tasks</div>
        ${STATES.map((s) => `<div class="card"><div class="v" id="count-${s}">${esc(c[s])}</div>${s}</div>`).join("")}
        <div class="card"><div class="v" id="unassigned">${esc(o.unassigned)}</div>unassigned</div>
      </div>
      <h2>Engines</h2>
      <table id="engines"><thead><tr><th class="num">id</th><th>state</th><th>host</th><th class="num">pid</th>
        <th>tags</th><th>current task</th><th class="num">queued</th><th class="num">done</th><th class="num">failures</th></tr></thead>
        <tbody>${engineRows(o.engines)}</tbody></table>
      <h2>Tasks per second, last five minutes</h2>${rateChart(o.rate, o.now)}
      <h2>Recent failures</h2>
      <table id="failures"><thead><tr><th>task</th><th>label</th><th>status</th><th>engine</th><th>completed</th><th>error</th></tr></thead>
      <tbody>${o.recent_failures.map((f) => `<tr data-msg-id="${esc(f.msg_id)}"><td>${taskLink(f.msg_id)}</td>
        <td>${esc(f.label || "—")}</td><td>${state(f.status)}</td><td>${esc(f.engine_id)}</td><td>${iso(f.completed)}</td>
        <td>${esc((f.ename || "") + (f.evalue ? ": " + f.evalue : ""))}</td></tr>`).join("") ||
        `<tr><td colspan="6" class="muted">none</td></tr>`}</tbody></table>`;
    setConn(o.online);
  };
  const refresh = async () => { try { draw(await api("/api/overview")); } catch (e) { showError(e); } };
  await refresh();
  const later = throttle(1000, refresh);
  S.onTask = (t) => {
    const ul = document.getElementById("live-tasks");
    if (!ul) return;
    if (ul.firstElementChild && ul.firstElementChild.classList.contains("muted")) ul.innerHTML = "";
    const li = document.createElement("li");
    li.dataset.msgId = t.msg_id;
    li.innerHTML = `${state(t.status)} ${taskLink(t.msg_id)} ${esc(t.label || "")} <span class="muted">engine ${esc(t.engine_id)} · ${iso(t.at)}</span>`;
    ul.insertBefore(li, ul.firstChild);
    while (ul.children.length > 50) ul.removeChild(ul.lastChild);
    later();
  };
  S.onEngines = (d) => {
    if (!last) return;
    // Live queue figures from the controller; done/failures from the last read.
    const counts = {};
    for (const e of last.engines) counts[e.id] = e;
    last.engines = d.engines.map((e) => Object.assign({ done: 0, failures: 0 },
      counts[e.id] ? { done: counts[e.id].done, failures: counts[e.id].failures } : {}, e));
    last.unassigned = d.unassigned;
    const tb = document.querySelector("#engines tbody");
    if (tb) tb.innerHTML = engineRows(last.engines);
    const u = document.getElementById("unassigned");
    if (u) u.textContent = d.unassigned;
  };
}

// ------------------------------------------------------------- task stream

async function pageStream() {
  const q = new URLSearchParams(location.search);
  main().innerHTML = `<h1>Task stream</h1>
    <form class="filters" id="zoom">
      <label>since<input name="since" placeholder="2026-12-01T10:00:00Z or µs" value="${esc(q.get("since") || "")}"></label>
      <label>until<input name="until" placeholder="(now)" value="${esc(q.get("until") || "")}"></label>
      <button>Show</button>
      <button type="button" data-last="60">last minute</button>
      <button type="button" data-last="600">last 10 min</button>
      <button type="button" data-last="3600">last hour</button>
    </form>
    <p class="muted">Drag across the chart to zoom into a range; click a bar for its task.</p>
    <div id="stream"><p class="muted">Loading…</p></div>`;
  const form = document.getElementById("zoom");
  const go = (since, until) => {
    const p = new URLSearchParams();
    if (since) p.set("since", since);
    if (until) p.set("until", until);
    navigate("/stream" + (p.toString() ? "?" + p : ""));
  };
  form.addEventListener("submit", (ev) => { ev.preventDefault(); go(form.since.value.trim(), form.until.value.trim()); });
  form.querySelectorAll("[data-last]").forEach((b) => b.addEventListener("click", () => {
    go(String(Date.now() * 1000 - Number(b.dataset.last) * 1e6), "");
  }));
  const draw = async () => {
    const p = new URLSearchParams();
    if (q.get("since")) p.set("since", q.get("since"));
    if (q.get("until")) p.set("until", q.get("until"));
    p.set("limit", "5000");
    let d;
    try { d = await api("/api/stream?" + p); } catch (e) { showError(e); return; }
    drawStream(d, go, !!(q.get("since") && q.get("until")));
  };
  await draw();
  if (!q.get("until")) S.onTask = throttle(1000, draw);
}

// drawStream: the chart of d; fixed: keep d's range (a zoom), else fit
// the range to the tasks shown.
function drawStream(d, go, fixed) {
  const engines = d.engines.slice();
  for (const t of d.tasks) if (t.engine_id !== null && !engines.includes(t.engine_id)) engines.push(t.engine_id);
  engines.sort((a, b) => a - b);
  const rowH = 28, left = 70, w = 1000, h = engines.length * rowH + 30;
  let t0 = d.since, t1 = d.until;
  const ran = d.tasks.filter((t) => t.started);
  if (!fixed && ran.length) {
    t0 = Math.max(t0, Math.min(...ran.map((t) => t.started)));
    t1 = Math.min(t1, Math.max(...ran.map((t) => t.completed || d.until)));
    const pad = Math.max((t1 - t0) * 0.02, 1000);
    t0 -= pad;
    t1 += pad;
  }
  const x = (t) => left + ((t - t0) / (t1 - t0)) * (w - left - 10);
  const row = {};
  engines.forEach((e, i) => { row[e] = i; });
  const rows = engines.map((e, i) => `<g class="row" data-engine="${esc(e)}">
    <rect x="0" y="${i * rowH}" width="${w}" height="${rowH}" fill="${i % 2 ? "#fafbfc" : "#fff"}"></rect>
    <text x="6" y="${i * rowH + 18}">engine ${esc(e)}</text></g>`).join("");
  const bars = d.tasks.filter((t) => t.engine_id !== null && t.started).map((t) => {
    const a = Math.max(x(t.started), left), b = Math.min(x(t.completed || d.until), w - 10);
    const bw = Math.max(b - a, 2);
    return `<rect class="bar state-${esc(t.status)}" data-msg-id="${esc(t.msg_id)}" data-engine="${esc(t.engine_id)}"
      x="${a.toFixed(1)}" y="${row[t.engine_id] * rowH + 5}" width="${bw.toFixed(1)}" height="${rowH - 10}">
      <title>${esc(t.label || t.msg_id)} · ${esc(t.status)} · ${dur(t.started, t.completed)}</title></rect>`;
  }).join("");
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const t = t0 + f * (t1 - t0);
    return `<text x="${x(t) - (f === 1 ? 120 : f === 0 ? 0 : 60)}" y="${h - 8}">${iso(t)}</text>`;
  }).join("");
  document.getElementById("stream").innerHTML =
    `<p class="muted">${d.tasks.length} tasks on ${engines.length} engines, ${iso(t0)} – ${iso(t1)}</p>
    <svg class="chart" id="stream-chart" viewBox="0 0 ${w} ${h}">${rows}${bars}${ticks}
    <rect class="sel" id="sel" x="0" y="0" width="0" height="${h - 25}" visibility="hidden"></rect></svg>`;
  const svg = document.getElementById("stream-chart");
  const sel = document.getElementById("sel");
  const toT = (ev) => {
    const r = svg.getBoundingClientRect();
    const px = ((ev.clientX - r.left) / r.width) * w;
    return t0 + ((px - left) / (w - left - 10)) * (t1 - t0);
  };
  let from = null, fromPx = 0;
  svg.addEventListener("mousedown", (ev) => {
    if (ev.target.classList.contains("bar")) return;
    from = toT(ev);
    const r = svg.getBoundingClientRect();
    fromPx = ((ev.clientX - r.left) / r.width) * w;
    sel.setAttribute("x", fromPx); sel.setAttribute("width", 0); sel.setAttribute("visibility", "visible");
  });
  svg.addEventListener("mousemove", (ev) => {
    if (from === null) return;
    const r = svg.getBoundingClientRect();
    const px = ((ev.clientX - r.left) / r.width) * w;
    sel.setAttribute("x", Math.min(px, fromPx)); sel.setAttribute("width", Math.abs(px - fromPx));
  });
  svg.addEventListener("mouseup", (ev) => {
    if (from === null) return;
    const to = toT(ev);
    const a = Math.min(from, to), b = Math.max(from, to);
    from = null;
    sel.setAttribute("visibility", "hidden");
    if (b - a > 1000) go(String(Math.round(a)), String(Math.round(b)));
  });
  svg.querySelectorAll("rect.bar").forEach((r) => r.addEventListener("click", () => navigate("/task/" + r.dataset.msgId)));
}

// ----------------------------------------------------------------- history

async function pageHistory() {
  const q = new URLSearchParams(location.search);
  const v = (k) => esc(q.get(k) || "");
  main().innerHTML = `<h1>History</h1>
    <form class="filters" id="filters">
      <label>label (glob)<input name="label" value="${v("label")}" placeholder="wf/*"></label>
      <label>status<select name="status"><option value="">any</option>
        ${STATES.map((s) => `<option ${q.get("status") === s ? "selected" : ""}>${s}</option>`).join("")}</select></label>
      <label>engine<input name="engine" size="4" value="${v("engine")}"></label>
      <label>submitted since<input name="since" value="${v("since")}" placeholder="2026-12-01T00:00:00Z"></label>
      <label>until<input name="until" value="${v("until")}"></label>
      <label>submitter<input name="submitter" value="${v("submitter")}"></label>
      <label>per page<input name="limit" size="4" value="${v("limit") || 50}"></label>
      <button>Filter</button>
    </form>
    <div id="hist"><p class="muted">Loading…</p></div>`;
  const form = document.getElementById("filters");
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const k of ["label", "status", "engine", "since", "until", "submitter", "limit"]) {
      const val = form[k].value.trim();
      if (val) p.set(k, val);
    }
    navigate("/history" + (p.toString() ? "?" + p : ""));
  });
  let d;
  try { d = await api("/api/tasks?" + q); } catch (e) {
    document.getElementById("hist").innerHTML = `<p class="error-box" id="error">${esc(e.message)}</p>`;
    return;
  }
  const older = new URLSearchParams(q);
  if (d.next) older.set("before", d.next);
  const newest = new URLSearchParams(q);
  newest.delete("before");
  document.getElementById("hist").innerHTML = `
    <table id="history"><thead><tr><th>task</th><th>label</th><th>status</th><th class="num">engine</th>
      <th>submitted</th><th>run time</th><th>submitter</th><th class="num">attempts</th></tr></thead>
    <tbody>${d.tasks.map((t) => `<tr data-msg-id="${esc(t.msg_id)}"><td>${taskLink(t.msg_id)}</td>
      <td>${esc(t.label || "—")}</td><td>${state(t.status)}</td><td class="num">${esc(t.engine_id === null ? "—" : t.engine_id)}</td>
      <td>${iso(t.submitted)}</td><td>${dur(t.started, t.completed)}</td><td>${esc(t.submitted_by || "—")}</td>
      <td class="num">${esc(t.attempts)}</td></tr>`).join("") || `<tr><td colspan="8" class="muted">no tasks match</td></tr>`}</tbody></table>
    <div class="pager">
      ${q.get("before") ? `<a href="/history?${esc(newest)}" data-link>⇤ newest</a>` : ""}
      ${d.next ? `<a href="/history?${esc(older)}" id="older" data-link>older →</a>` : `<span class="muted">end of history</span>`}
      <span class="muted">${d.tasks.length} shown</span></div>`;
}

// -------------------------------------------------------------------- task

function depList(list, dir) {
  if (!list.length) return `<p class="muted">none</p>`;
  return `<ul class="deps ${dir}">${list.map((d) => `<li>${taskLink(d.msg_id, d.label || d.msg_id)}
    ${d.status ? state(d.status) : `<span class="muted">not recorded</span>`} <span class="muted">${esc(d.kind)}</span></li>`).join("")}</ul>`;
}

async function pageTask(id) {
  let t;
  try { t = await api("/api/task/" + encodeURIComponent(id)); } catch (e) { showError(e); return; }
  const e = t.error;
  const kv = (pairs) => `<dl class="kv">${pairs.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join("")}</dl>`;
  const js = (v) => v === null || v === undefined ? "—" : `<code>${esc(JSON.stringify(v))}</code>`;
  main().innerHTML = `<h1>Task <code id="task-id">${esc(t.msg_id)}</code> ${state(t.status)}</h1>
    <div id="actions"></div>
    ${kv([["label", esc(t.label || "—")], ["engine", esc(t.engine_id === null ? "—" : t.engine_id)],
      ["engine uuid", esc(t.engine_uuid || "—")], ["attempts", esc(t.attempts)],
      ["submitter", esc(t.submitted_by || "—") + (t.submitted_by_key ? " (Curve key)" : "")],
      ["client", esc(t.client_uuid || "—")], ["resubmitted as", t.resubmitted ? taskLink(t.resubmitted) : "—"]])}
    <h2>Request</h2>
    ${kv([["queue", esc(t.queue || "—")], ["command / call", `<code id="request">${esc(t.execute_input || "—")}</code>`],
      ["after", js(t.after)], ["follow", js(t.follow)], ["targets", js(t.targets)], ["requires", js(t.requires)],
      ["timeout", t.timeout ? esc(t.timeout / 1e6 + " s") : "—"], ["retries", esc(t.retries)]])}
    <h2>Dependencies</h2>
    <div class="cards"><div class="card grow"><b>depends on</b>${depList(t.depends_on, "up")}</div>
      <div class="card grow"><b>depended on by</b>${depList(t.dependents, "down")}</div></div>
    <h2>Timestamps</h2>
    ${kv([["submitted", iso(t.submitted)], ["started", iso(t.started)], ["completed", iso(t.completed)],
      ["received", iso(t.received)], ["queued for", dur(t.submitted, t.started)], ["ran for", dur(t.started, t.completed)]])}
    <h2>Result</h2>
    ${kv([["summary", `<code id="result">${esc(t.execute_result || "—")}</code>`]])}
    ${e ? `<h2>Error</h2><p class="error-box" id="error-name"><b>${esc(e.ename)}</b>: ${esc(e.evalue)}</p>
      <pre id="traceback">${esc((e.traceback || []).join("\n") || "(no traceback)")}</pre>` : ""}
    <h2>stdout</h2><pre id="stdout">${esc(t.stdout || "")}</pre>
    <h2>stderr</h2><pre id="stderr">${esc(t.stderr || "")}</pre>
    <h2>Audit</h2>
    ${kv([["chain position", esc(t.chain_seq || "—")], ["previous", t.chain_prev ? taskLink(t.chain_prev) : "—"],
      ["hash", `<code id="audit-hash">${esc(t.audit_hash || "— (not chained yet)")}</code>`]])}`;
  if (S.config && S.config.allow_actions) {
    const box = document.getElementById("actions");
    box.innerHTML = `<p>${t.status === "pending" ? `<button id="abort">Abort</button>` : ""}
      ${t.status !== "pending" ? `<button id="resubmit">Resubmit</button>` : ""} <span id="action-result"></span></p>`;
    const act = async (what) => {
      const out = document.getElementById("action-result");
      try {
        const r = await api(`/api/${what}?id=${encodeURIComponent(t.msg_id)}`,
          { method: "POST", headers: { "X-IPP-CSRF": S.config.csrf } });
        out.innerHTML = what === "resubmit" && r.new_msg_id ? `resubmitted as ${taskLink(r.new_msg_id)}` :
          esc(r.aborted ? "aborted" : "not pending any more");
      } catch (err) { out.innerHTML = `<span class="error-box">${esc(err.message)}</span>`; }
    };
    for (const what of ["abort", "resubmit"]) {
      const b = document.getElementById(what);
      if (b) b.addEventListener("click", () => act(what));
    }
  }
}

// ---------------------------------------------------------------- workflow

async function pageWorkflow() {
  const q = new URLSearchParams(location.search);
  const prefix = q.get("prefix") || "";
  main().innerHTML = `<h1>Workflow</h1>
    <form class="filters" id="wf"><label>label prefix<input name="prefix" value="${esc(prefix)}" placeholder="features"></label>
      <button>Show</button></form>
    <p class="legend">${STATES.map(state).join(" ")} <span class="muted">— solid: after · dashed: follow</span></p>
    <div id="wfbody">${prefix ? `<p class="muted">Loading…</p>` : `<p class="muted">Give the label prefix of a workflow (what <code>ipp dag submit</code> labels PREFIX/NAME).</p>`}</div>`;
  const form = document.getElementById("wf");
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    navigate("/workflow?prefix=" + encodeURIComponent(form.prefix.value.trim()));
  });
  if (!prefix) return;
  let w, svg;
  try {
    const pq = "prefix=" + encodeURIComponent(prefix);
    [w, svg] = await Promise.all([api("/api/workflow?" + pq), api("/api/workflow.svg?" + pq)]);
  } catch (e) {
    document.getElementById("wfbody").innerHTML = `<p class="error-box" id="error">${esc(e.message)}</p>`;
    return;
  }
  const counts = {};
  for (const n of w.nodes) counts[n.status] = (counts[n.status] || 0) + 1;
  const svgDoc = new DOMParser().parseFromString(svg, "image/svg+xml").documentElement;
  document.getElementById("wfbody").innerHTML = `<p id="wf-summary">${w.nodes.length} tasks, ${w.edges.length} edges:
    ${Object.entries(counts).map(([s, n]) => `${n} ${esc(s)}`).join(", ")}</p><div id="dag"></div>
    <h2>Tasks</h2><table id="wf-nodes"><thead><tr><th>label</th><th>status</th><th>engine</th><th>run time</th></tr></thead>
    <tbody>${w.nodes.map((n) => `<tr data-msg-id="${esc(n.msg_id)}" class="state-row-${esc(n.status)}"><td>${taskLink(n.msg_id, n.label)}</td>
      <td>${state(n.status)}</td><td>${esc(n.engine_id === null ? "—" : n.engine_id)}</td><td>${dur(n.started, n.completed)}</td></tr>`).join("")}</tbody></table>`;
  document.getElementById("dag").appendChild(document.importNode(svgDoc, true));
  document.querySelectorAll("#dag a").forEach((a) => a.addEventListener("click", (ev) => {
    const href = a.getAttribute("xlink:href") || a.getAttribute("href");
    if (href) { ev.preventDefault(); navigate(href); }
  }));
}

// ------------------------------------------------------------------- audit

async function pageAudit() {
  main().innerHTML = `<h1>Audit</h1><p class="muted">Verifying the audit chain…</p>`;
  let a;
  try { a = await api("/api/audit"); } catch (e) { showError(e); return; }
  main().innerHTML = `<h1>Audit</h1>
    <p class="${a.intact ? "ok-box" : "error-box"}" id="audit-status">${a.intact ? "✔" : "✘"} ${esc(a.message)}</p>
    <dl class="kv"><dt>records checked</dt><dd id="audit-checked">${esc(a.checked)}</dd>
      <dt>removed by recorded purges</dt><dd>${esc(a.purged)}</dd><dt>chain head</dt><dd>${esc(a.head_seq)}</dd>
      ${a.bad_msg_id ? `<dt>first problem</dt><dd>${taskLink(a.bad_msg_id, a.bad_msg_id)} (position ${esc(a.bad_seq)})</dd>` : ""}</dl>
    <h2>Purges recorded</h2>
    <table id="purges"><thead><tr><th class="num">id</th><th>when</th><th>by</th><th>what</th><th class="num">records</th></tr></thead>
    <tbody>${a.purges.map((p) => `<tr><td class="num">${esc(p.id)}</td><td>${iso(p.at)}</td><td>${esc(p.purged_by || "—")}</td>
      <td><code>${esc(p.what)}</code></td><td class="num">${esc(p.count)}</td></tr>`).join("") ||
      `<tr><td colspan="5" class="muted">no purges</td></tr>`}</tbody></table>`;
}

// ------------------------------------------------------------------ router

function route() {
  S.timers.forEach(clearInterval);
  S.timers = [];
  S.onTask = null;
  S.onEngines = null;
  const path = location.pathname;
  const page = path === "/" ? "overview" : path.split("/")[1];
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === page));
  document.body.dataset.page = page;
  if (path === "/" || path === "/overview") return pageOverview();
  if (path === "/stream") return pageStream();
  if (path === "/history") return pageHistory();
  if (path.startsWith("/task/")) return pageTask(decodeURIComponent(path.slice(6)));
  if (path === "/workflow") return pageWorkflow();
  if (path === "/audit") return pageAudit();
  showError(Object.assign(new Error("no such page"), { status: 404 }));
}

function navigate(url) {
  history.pushState(null, "", url);
  route();
}

document.addEventListener("click", (ev) => {
  const a = ev.target.closest("a");
  if (!a || ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
  const href = a.getAttribute("href");
  if (href && href.startsWith("/") && !href.startsWith("/api/")) { ev.preventDefault(); navigate(href); }
});
window.addEventListener("popstate", route);

(async () => {
  // The token came in the address: the cookie holds it now, so take it out.
  if (new URLSearchParams(location.search).has("token")) {
    const p = new URLSearchParams(location.search);
    p.delete("token");
    history.replaceState(null, "", location.pathname + (p.toString() ? "?" + p : ""));
  }
  try {
    S.config = await api("/api/config");
    document.getElementById("dbpath").textContent = "database: " + S.config.db;
    setConn(S.config.online);
  } catch (e) { showError(e); return; }
  startEvents();
  await route();
  document.body.dataset.ready = "1";
})();
