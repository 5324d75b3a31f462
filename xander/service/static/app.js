// The page: ask over /v1/ask/stream, draw what the server decided (SQL, rows, the chart it
// chose, confidence) and the search tree as it grows.  Plain JS, no build step, nothing from
// the internet.
"use strict";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "xander-token";

// -- SQL highlighting (a small tokenizer: comments, strings, numbers, words, the rest) --------
const KEYWORDS = new Set((
  "select from where group by order having limit offset join inner left right full outer cross " +
  "natural on using as and or not in is null like ilike between exists case when then else end " +
  "distinct all union intersect except with asc desc nulls first last over partition window " +
  "rows range cast true false interval filter values lateral recursive"
).split(" "));
const FUNCTIONS = new Set((
  "count sum avg min max abs round coalesce lower upper length substr substring trim strftime " +
  "date datetime julianday extract cast ifnull nullif row_number rank dense_rank lag lead"
).split(" "));
const SQL_TOKEN = /(--[^\n]*|\/\*[\s\S]*?\*\/)|('(?:[^']|'')*'?)|("(?:[^"]|"")*"?|`[^`]*`?)|(\b\d+(?:\.\d+)?\b)|([A-Za-z_][A-Za-z0-9_$]*)|(\s+)|([^\sA-Za-z0-9_'"`]+)/g;

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;",
                                                   '"': "&quot;", "'": "&#39;"}[c]));
}

function highlightSQL(sql) {
  let out = "";
  for (const m of sql.matchAll(SQL_TOKEN)) {
    const [text, cmt, str, quoted, num, word, space] = m;
    if (cmt) out += `<span class="cmt">${esc(text)}</span>`;
    else if (str) out += `<span class="str">${esc(text)}</span>`;
    else if (quoted) out += `<span class="id">${esc(text)}</span>`;
    else if (num) out += `<span class="num">${esc(text)}</span>`;
    else if (word) {
      const w = word.toLowerCase();
      const cls = KEYWORDS.has(w) ? "kw" : FUNCTIONS.has(w) ? "fn" : "id";
      out += `<span class="${cls}">${esc(text)}</span>`;
    } else if (space) out += text;
    else out += `<span class="op">${esc(text)}</span>`;
  }
  return out;
}

// -- talking to the server ----------------------------------------------------------------------
function headers(json) {
  const h = {};
  if (json) h["Content-Type"] = "application/json";
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) h["Authorization"] = "Bearer " + token;
  return h;
}

async function loadHealth() {
  const r = await fetch("/v1/health", {headers: headers(false)});
  if (r.status === 401) {
    $("token-row").hidden = false;
    $("server").textContent = "this server needs a token";
    return;
  }
  const h = await r.json();
  if (!r.ok) return showError(h);
  const select = $("db");
  const chosen = select.value;
  select.innerHTML = "";
  for (const d of h.databases) {
    const opt = document.createElement("option");
    opt.value = d.name;
    opt.textContent = `${d.name} (${d.dialect}, ${d.tables} tables)`;
    select.appendChild(opt);
  }
  if (chosen) select.value = chosen;
  $("server").textContent = `${h.model} · ${h.databases.length} database` +
    (h.databases.length === 1 ? "" : "s") + ` · queue ${h.queue.running + h.queue.waiting}/` +
    `${h.queue.workers + h.queue.capacity}`;
}

function showError(e) {
  const box = $("error");
  box.hidden = false;
  box.innerHTML = esc(e.error || "error") + (e.fix ? `<span class="fix">${esc(e.fix)}</span>` : "");
}

// Reads a text/event-stream body; calls onEvent(name, data) for each event.
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, {stream: true});
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let name = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trim();
      }
      if (data) onEvent(name, JSON.parse(data));
    }
  }
}

// -- the search tree ----------------------------------------------------------------------------
// open / closed: what the reader toggled (kept across redraws); others open to depth 3
const tree = {nodes: new Map(), roots: [], open: new Set(), closed: new Set(), scheduled: false};

function resetTree() {
  tree.nodes.clear();
  tree.roots = [];
  tree.open = new Set();
  tree.closed = new Set();
  $("tree-body").innerHTML = "";
  $("pool").innerHTML = "";
  $("tree-count").textContent = "";
}

function treeEvent(name, ev) {
  if (name === "node") {
    const node = {...ev, children: []};
    tree.nodes.set(ev.id, node);
    const parent = tree.nodes.get(ev.parent);
    if (parent) parent.children.push(node); else tree.roots.push(node);
  } else if (name === "mark") {
    const node = tree.nodes.get(ev.id);
    if (node) Object.assign(node, ev, {children: node.children, text: node.text});
  }
  if (!tree.scheduled) {
    tree.scheduled = true;
    requestAnimationFrame(() => { tree.scheduled = false; renderTree(); });
  }
}

// A chain of expanded nodes with one child each is shown as one line (as `xander ask --explain`).
function shown(node) {
  while (node.status === "expanded" && node.children.length === 1) node = node.children[0];
  return node;
}

function summaryHTML(node, fromText) {
  const failed = node.status === "complete" && node.ok === false ? " failed" : "";
  const piece = node.text.startsWith(fromText) ? node.text.slice(fromText.length) : node.text;
  let html = `<span class="st ${esc(node.status)}${failed}">${esc(node.status)}</span>` +
    `<span class="piece">${esc(piece || "(start)")}</span>` +
    `<span class="lp">${Number(node.logprob).toFixed(2)}</span>`;
  if (node.status === "complete" && node.sql) {
    html += `<span class="cand">${node.ok ? "✓ candidate" : "✗ candidate"}` +
      (node.group !== undefined ? `, group ${node.group + 1}` : "") +
      (node.score !== undefined ? `, score ${node.score}` : "") + "</span>";
  }
  if (node.reason) html += ` <span class="why">← ${esc(node.reason)}</span>`;
  return html;
}

function renderNode(node, fromText, depth) {
  const last = shown(node);
  const kids = last.children;
  if (!kids.length) {
    const div = document.createElement("div");
    div.className = "leaf";
    div.dataset.status = last.status;
    div.innerHTML = summaryHTML(last, fromText);
    return div;
  }
  const details = document.createElement("details");
  details.dataset.id = last.id;
  details.dataset.status = last.status;
  details.open = tree.open.has(last.id) || (!tree.closed.has(last.id) && depth < 3);
  details.addEventListener("toggle", () => {
    if (details.open) { tree.open.add(last.id); tree.closed.delete(last.id); }
    else { tree.open.delete(last.id); tree.closed.add(last.id); }
  });
  const summary = document.createElement("summary");
  summary.innerHTML = summaryHTML(last, fromText);
  details.appendChild(summary);
  for (const kid of kids) details.appendChild(renderNode(kid, last.text, depth + 1));
  return details;
}

function renderTree() {
  const body = $("tree-body");
  body.innerHTML = "";
  for (const root of tree.roots) body.appendChild(renderNode(root, "", 0));
  let pruned = 0, complete = 0;
  for (const n of tree.nodes.values()) {
    if (n.status === "pruned" || n.status === "dead") pruned++;
    if (n.status === "complete") complete++;
  }
  $("tree-count").textContent = `(${tree.nodes.size} nodes, ${pruned} pruned, ` +
    `${complete} complete)`;
}

function renderPool(result) {
  const pool = result.pool || [];
  if (!pool.length) { $("pool").innerHTML = ""; return; }
  let html = "<p><b>Candidates by result</b> (the heaviest group answers):</p><ol>";
  for (const g of pool) {
    html += `<li><span>${g.rows} rows</span><span class="share">share ${g.share}</span><ul>` +
      g.members.map((m) => `<li><code>${esc(m)}</code></li>`).join("") + "</ul></li>";
  }
  $("pool").innerHTML = html + "</ol>";
}

// -- the chart (the server chose it; this only draws it, as inline SVG) ------------------------
const SVG = "http://www.w3.org/2000/svg";

function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmt(v) {
  return Math.abs(v) >= 1000 || Number.isInteger(v) ? v.toLocaleString() : v.toFixed(2);
}

function drawChart(spec) {
  const box = $("chart");
  box.innerHTML = "";
  if (!spec) return;
  const pts = spec.points;
  const W = 720, H = 280, L = 56, R = 16, T = 24, B = pts.length > 8 ? 78 : 44;
  const svg = el("svg", {viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img",
                         "aria-label": `${spec.kind} chart of ${spec.y} by ${spec.x}`,
                         "data-kind": spec.kind});
  const minV = Math.min(0, ...pts.map((p) => p[1]));
  const maxV = niceMax(Math.max(...pts.map((p) => p[1])));
  const y = (v) => T + (H - T - B) * (1 - (v - minV) / (maxV - minV || 1));
  for (let i = 0; i <= 4; i++) {
    const v = minV + (maxV - minV) * i / 4;
    svg.appendChild(el("line", {x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid"}));
    svg.appendChild(el("text", {x: L - 6, y: y(v) + 4, "text-anchor": "end"}, fmt(v)));
  }
  svg.appendChild(el("line", {x1: L, x2: W - R, y1: y(0), y2: y(0), class: "axis"}));
  svg.appendChild(el("text", {x: L, y: 14, class: "title"}, `${spec.y} by ${spec.x}`));
  const step = (W - L - R) / pts.length;
  const label = (i, text) => {
    const x = L + step * (i + 0.5);
    const t = text.length > 16 ? text.slice(0, 15) + "…" : text;
    const attrs = pts.length > 8
      ? {x, y: H - B + 14, "text-anchor": "end", transform: `rotate(-40 ${x} ${H - B + 14})`}
      : {x, y: H - B + 16, "text-anchor": "middle"};
    svg.appendChild(el("text", attrs, t));
  };
  if (spec.kind === "bar") {
    const bw = Math.max(2, Math.min(60, step * 0.7));
    pts.forEach(([name, v], i) => {
      const x = L + step * (i + 0.5) - bw / 2;
      const top = Math.min(y(v), y(0)), h = Math.abs(y(0) - y(v));
      const bar = el("rect", {x, y: top, width: bw, height: Math.max(h, 1), class: "bar"});
      bar.appendChild(el("title", {}, `${name}: ${fmt(v)}`));
      svg.appendChild(bar);
      if (pts.length <= 20) {
        svg.appendChild(el("text", {x: x + bw / 2, y: top - 4, "text-anchor": "middle",
                                    class: "val"}, fmt(v)));
      }
      label(i, name);
    });
  } else {
    const xy = pts.map(([, v], i) => [L + step * (i + 0.5), y(v)]);
    svg.appendChild(el("polyline", {points: xy.map((p) => p.join(",")).join(" "), class: "line"}));
    const every = Math.ceil(pts.length / 14);
    xy.forEach(([px, py], i) => {
      const dot = el("circle", {cx: px, cy: py, r: pts.length > 60 ? 1.5 : 3.5, class: "dot"});
      dot.appendChild(el("title", {}, `${pts[i][0]}: ${fmt(pts[i][1])}`));
      svg.appendChild(dot);
      if (i % every === 0) label(i, pts[i][0]);
    });
  }
  box.appendChild(svg);
}

// -- the answer ---------------------------------------------------------------------------------
function drawRows(columns, rows) {
  const table = $("rows");
  table.innerHTML = "";
  if (!columns.length) { $("rows-wrap").hidden = true; return; }
  $("rows-wrap").hidden = false;
  const head = table.createTHead().insertRow();
  columns.forEach((c, i) => {
    const th = document.createElement("th");
    th.textContent = c;
    if (rows.length && rows.every((r) => r[i] === null || typeof r[i] === "number")) {
      th.className = "num";
    }
    head.appendChild(th);
  });
  const body = table.createTBody();
  for (const row of rows.slice(0, 500)) {
    const tr = body.insertRow();
    for (const v of row) {
      const td = tr.insertCell();
      if (v === null) { td.textContent = "NULL"; td.className = "null"; }
      else { td.textContent = String(v); if (typeof v === "number") td.className = "num"; }
    }
  }
}

function drawResult(r) {
  $("answer").hidden = false;
  const sql = r.normalized_sql || r.sql || "";
  $("sql").innerHTML = sql ? highlightSQL(sql) : '<span class="cmt">-- no SQL</span>';
  $("sql").dataset.sql = sql;
  const c = Number(r.confidence || 0);
  const conf = $("confidence");
  conf.className = "confidence" + (c < 0.3 ? " bad" : c < 0.6 ? " low" : "");
  conf.querySelector(".fill").style.width = `${Math.round(c * 100)}%`;
  conf.querySelector(".value").textContent = c.toFixed(2);
  const ns = $("not-sure");
  if (r.not_sure) {
    ns.hidden = false;
    ns.innerHTML = `Not sure (confidence ${c.toFixed(2)}); the likeliest queries:` +
      (r.alternatives || []).map((a) => `<pre class="sql">${highlightSQL(a)}</pre>`).join("");
  } else ns.hidden = true;
  if (r.error) showError({error: r.error, fix: "the query did not run; see the search tree"});
  drawChart(r.chart);
  drawRows(r.columns || [], r.rows || []);
  const more = (r.rows || []).length > 500 ? `, first 500 shown` : "";
  $("meta").textContent = `${(r.rows || []).length} rows${r.truncated ? " (truncated)" : ""}` +
    `${more} · ${Number(r.seconds).toFixed(2)} s · ${r.mode}, ${r.model} · ` +
    `${r.expansions} expansions, ${r.pruned} pruned` +
    (r.stop_reason && r.stop_reason !== "found" ? ` · stopped: ${r.stop_reason}` : "");
  renderPool(r);
}

async function ask(event) {
  event.preventDefault();
  const token = $("token").value.trim();
  if (token) localStorage.setItem(TOKEN_KEY, token);
  const body = {question: $("question").value, db: $("db").value || null, mode: $("mode").value};
  const floor = $("min-confidence").value;
  if (floor !== "") body.min_confidence = Number(floor);
  $("error").hidden = true;
  $("answer").hidden = true;
  resetTree();
  $("ask").disabled = true;
  const started = performance.now();
  const status = (text) => { $("status").textContent = text; };
  status("sending…");
  try {
    const r = await fetch("/v1/ask/stream", {method: "POST", headers: headers(true),
                                             body: JSON.stringify(body)});
    if (r.status === 401) $("token-row").hidden = false;
    if (!r.ok) { showError(await r.json()); status(""); return; }
    let nodes = 0;
    await readEvents(r, (name, data) => {
      if (name === "queued") status(data.position ? `waiting: ${data.position} ahead` : "queued…");
      else if (name === "started") status("searching…");
      else if (name === "node" || name === "mark") {
        if (name === "node") nodes++;
        treeEvent(name, data);
        status(`searching… ${nodes} nodes`);
      } else if (name === "result") {
        drawResult(data);
        status(`answered in ${((performance.now() - started) / 1000).toFixed(2)} s`);
      } else if (name === "error") { showError(data); status(""); }
    });
    renderTree();
  } catch (e) {
    showError({error: String(e), fix: "is the server still running?"});
    status("");
  } finally {
    $("ask").disabled = false;
  }
}

$("ask-form").addEventListener("submit", ask);
$("question").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("ask-form").requestSubmit(); }
});
$("copy").addEventListener("click", async () => {
  const sql = $("sql").dataset.sql || "";
  try { await navigator.clipboard.writeText(sql); }
  catch (_) {  // no clipboard API (plain http on another host): select the text instead
    const range = document.createRange();
    range.selectNodeContents($("sql"));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    document.execCommand("copy");
  }
  $("copy").textContent = "Copied";
  setTimeout(() => { $("copy").textContent = "Copy"; }, 1200);
});
$("token").addEventListener("change", () => {
  localStorage.setItem(TOKEN_KEY, $("token").value.trim());
  loadHealth();
});
loadHealth().catch((e) => showError({error: String(e), fix: "is the server running?"}));
