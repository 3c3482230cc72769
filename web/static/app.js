// Jaminan node page: plain JavaScript, no dependencies. It reads the node's JSON API only.
// Personal data rules: an ID number is never put in the page address, localStorage or
// sessionStorage; the operator token is kept in sessionStorage only (this tab, until closed).
"use strict";

(function () {
  const TOKEN_KEY = "jaminan.operatorToken";
  const views = ["network", "explorer", "tracker", "statement", "compliance"];
  const titles = { network: "Network", explorer: "Explorer", tracker: "Transfer tracker",
    statement: "Worker statement", compliance: "Employer compliance" };
  const stageNames = { applied: "Applied at the new place", letter_sent: "Contact letter sent",
    out_processed: "Funds and record sent by the old place", partial: "Sent without unproven back payments",
    completed: "Completed at the new place", rejected: "Rejected" };
  const provinces = { "11": "Beijing", "12": "Tianjin", "13": "Hebei", "14": "Shanxi", "15": "Inner Mongolia", "21": "Liaoning",
    "22": "Jilin", "23": "Heilongjiang", "31": "Shanghai", "32": "Jiangsu", "33": "Zhejiang", "34": "Anhui", "35": "Fujian",
    "36": "Jiangxi", "37": "Shandong", "41": "Henan", "42": "Hubei", "43": "Hunan", "44": "Guangdong", "45": "Guangxi",
    "46": "Hainan", "50": "Chongqing", "51": "Sichuan", "52": "Guizhou", "53": "Yunnan", "54": "Tibet", "61": "Shaanxi",
    "62": "Gansu", "63": "Qinghai", "64": "Ningxia", "65": "Xinjiang" };

  const $ = (id) => document.getElementById(id);

  // el builds an element; text is always set as text, never parsed as HTML.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }
  const clear = (node, ...children) => { node.replaceChildren(...children.flat().filter((c) => c)); return node; };
  const short = (h, n) => (h ? String(h).slice(0, n || 12) + "…" : "–");
  const fmtTime = (ms) => (ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) + " UTC" : "–");
  const yuan = (fen) => (typeof fen === "number" ? (fen / 100).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 }) : "–");
  const prov = (p) => (p ? (provinces[p] ? provinces[p] + " (" + p + ")" : p) : "–");
  const isHex64 = (s) => /^[0-9a-fA-F]{64}$/.test(s);

  // --- the operator token ---------------------------------------------------------------------
  function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }
  function showTokenState() {
    $("token-state").textContent = token() ? "token set for this tab" : "no token";
  }
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = $("token").value.trim();
    if (v) sessionStorage.setItem(TOKEN_KEY, v);
    $("token").value = "";
    showTokenState();
  });
  $("token-forget").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); showTokenState(); });

  // --- API calls ---------------------------------------------------------------------------------
  class APIError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }
  async function api(path, opts) {
    const headers = { Accept: "application/json" };
    if (opts && opts.auth) {
      if (!token()) throw new APIError(0, "no_token", "This view needs the node's operator token: enter it at the top of the page.");
      headers.Authorization = "Bearer " + token();
    }
    let res;
    try {
      res = await fetch(path, { headers, cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer" });
    } catch (e) {
      throw new APIError(0, "network", "The node did not answer: " + e.message);
    }
    let body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    if (!res.ok) {
      const err = body && body.error ? body.error : { code: "http_" + res.status, message: res.statusText };
      throw new APIError(res.status, err.code, err.message);
    }
    return body;
  }
  function errorBox(err, friendly) {
    let msg = err.message;
    if (friendly && friendly[err.status]) msg = friendly[err.status];
    else if (err.status === 401) msg = "The operator token was not accepted (" + err.message + ").";
    else if (err.status === 403) msg = "Not allowed: " + err.message;
    return el("p", { class: "message error", role: "alert" }, msg);
  }
  function download(name, text) {
    const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
    const a = el("a", { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // --- navigation ------------------------------------------------------------------------------
  let current = "";
  function route() {
    let v = location.hash.replace(/^#/, "");
    if (!views.includes(v)) v = "network";
    current = v;
    for (const name of views) $("view-" + name).hidden = name !== v;
    for (const a of document.querySelectorAll("[data-nav]")) {
      if (a.dataset.nav === v) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    }
    $("title").textContent = titles[v];
    document.title = titles[v] + " · Jaminan node";
    if (v === "network") loadNetwork();
    if (v === "explorer") loadCheckpoints();
  }
  window.addEventListener("hashchange", route);

  // --- live updates -----------------------------------------------------------------------------
  let finalSeq = 0;
  function setFinal(seq) {
    if (seq <= finalSeq) return;
    finalSeq = seq;
    $("live-seq").textContent = String(seq);
    const n = $("net-final-seq");
    if (n) n.textContent = String(seq);
  }
  let netTimer = null;
  function startEvents() {
    if (!window.EventSource) { $("live-state").textContent = "live updates unavailable in this browser"; return; }
    const es = new EventSource("/v1/events");
    es.addEventListener("open", () => { $("live-state").textContent = "live"; $("live-dot").classList.add("on"); });
    es.addEventListener("error", () => { $("live-state").textContent = "reconnecting…"; $("live-dot").classList.remove("on"); });
    es.addEventListener("checkpoint", (ev) => {
      let c;
      try { c = JSON.parse(ev.data); } catch (e) { return; }
      setFinal(c.seq);
      if (current === "explorer") addCheckpointRow(c, true);
      if (current === "network" && !netTimer) netTimer = setTimeout(() => { netTimer = null; loadNetwork(); }, 3000);
    });
  }

  // --- network view ---------------------------------------------------------------------------
  function card(k, v, id, small) {
    return el("div", { class: "card" }, el("div", { class: "k" }, k), el("div", { class: "v" + (small ? " small" : ""), id: id }, v));
  }
  let netLoading = false;
  async function loadNetwork() {
    if (netLoading) return;
    netLoading = true;
    try {
      const n = await api("/v1/network");
      renderNetwork(n);
    } catch (e) {
      clear($("alarms"), el("li", { class: "critical" }, "Network overview unavailable: " + e.message));
    } finally { netLoading = false; }
  }
  function renderNetwork(n) {
    const s = n.node;
    const self = (n.members || []).find((m) => m.self);
    $("node-name").textContent = (self ? self.name : s.role) + " · " + s.network;
    setFinal(s.finalized.seq);
    const t = n.throughput;
    clear($("net-cards"),
      card("Final checkpoint", String(Math.max(finalSeq, s.finalized.seq)), "net-final-seq"),
      card("This node", (self ? self.name : s.node_id) + " (" + s.role + (s.region ? ", " + prov(s.region) : "") + ")", "net-node", true),
      card("Lag", String(s.lag) + (s.lag ? " behind" : ""), "net-lag"),
      card("Peers connected", String(n.peers), "net-peers"),
      card("Consensus health", n.health.state, "net-health"),
      card("Records per second", t.records_per_second.toFixed(1), "net-rps"),
      card("Checkpoints per minute", t.checkpoints_per_minute.toFixed(1), "net-cpm"),
      card("Finality latency p50 / max", t.checkpoints ? t.finality_latency_p50_ms + " / " + t.finality_latency_max_ms + " ms" : "–", "net-latency", true),
      card("Open transfers (overdue)", n.overdue.open + " (" + n.overdue.count + ")", "net-overdue", true));
    const al = n.alarms || [];
    clear($("alarms"), al.length ? al.map((a) => el("li", { class: a.severity, "data-kind": a.kind },
      el("strong", {}, a.severity === "critical" ? "Critical: " : "Warning: "), a.message,
      a.kind === "transfer_overdue" && n.overdue.cases ? el("span", {}, " — cases ", n.overdue.cases.slice(0, 5).map(short).join(", ")) : null))
      : [el("li", { class: "none" }, "No alarms: state roots agree, keys valid, no node lagging, no transfer overdue.")]);
    renderCharts(n.recent || [], n.time);
    const tb = $("members").tBodies[0];
    clear(tb, (n.members || []).map((m) => {
      const lagging = m.lag !== null && m.lag >= 10;
      return el("tr", { class: m.self ? "self" : null },
        el("td", {}, m.name, m.self ? el("span", { class: "badge plain" }, " this node") : null),
        el("td", {}, m.role),
        el("td", {}, prov(m.region)),
        el("td", { class: "mono", title: m.id }, short(m.id, 16)),
        el("td", {}, m.revoked ? el("span", { class: "badge bad" }, "revoked") : (m.valid_until ? m.valid_until.slice(0, 10) : "no end")),
        el("td", {}, m.self ? "–" : (m.connected ? el("span", { class: "badge ok" }, "yes") : el("span", { class: "badge plain" }, "no"))),
        el("td", { class: "num" }, m.last_seq === null ? "–" : String(m.last_seq)),
        el("td", { class: "num" }, m.lag === null ? "–" : (lagging ? el("span", { class: "badge warn" }, String(m.lag)) : String(m.lag))));
    }));
  }
  function svgEl(tag, attrs) {
    const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    return e;
  }
  function renderCharts(recent, now) {
    const W = 600, H = 120, P = 4;
    // Throughput: records per 10-second bucket over the last 5 minutes.
    const buckets = new Array(30).fill(0);
    const start = now - 300000;
    for (const r of recent) {
      const i = Math.floor((r.final_at - start) / 10000);
      if (i >= 0 && i < buckets.length) buckets[i] += r.records;
    }
    const maxB = Math.max(1, ...buckets);
    const total = buckets.reduce((a, b) => a + b, 0);
    const s1 = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `${total} records finalised in the last 5 minutes, at most ${maxB} in 10 seconds` });
    const bw = (W - 2 * P) / buckets.length;
    buckets.forEach((b, i) => {
      const h = (H - 2 * P) * b / maxB;
      s1.append(svgEl("rect", { x: P + i * bw + 1, y: H - P - h, width: Math.max(1, bw - 2), height: h, fill: "#2f6db3" }));
    });
    clear($("chart-throughput"), s1);
    // Latency: one point per checkpoint, the last 120.
    const pts = recent.slice(-120);
    const maxL = Math.max(1, ...pts.map((r) => r.latency_ms));
    const s2 = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": pts.length ? `finality latency of the last ${pts.length} checkpoints, at most ${maxL} ms` : "no checkpoint yet" });
    if (pts.length > 1) {
      const step = (W - 2 * P) / (pts.length - 1);
      const d = pts.map((r, i) => `${i ? "L" : "M"}${(P + i * step).toFixed(1)},${(H - P - (H - 2 * P) * Math.max(0, r.latency_ms) / maxL).toFixed(1)}`).join(" ");
      s2.append(svgEl("path", { d, fill: "none", stroke: "#a34400", "stroke-width": 2 }));
    }
    clear($("chart-latency"), s2);
  }

  // --- explorer --------------------------------------------------------------------------------
  const shownCheckpoints = new Set();
  function addCheckpointRow(c, atTop) {
    if (shownCheckpoints.has(c.seq)) return;
    shownCheckpoints.add(c.seq);
    const tb = $("checkpoints").tBodies[0];
    const row = el("tr", { "data-seq": c.seq },
      el("td", { class: "num" }, el("a", { href: "#explorer", onclick: (e) => { e.preventDefault(); openCheckpoint(c.seq); } }, String(c.seq))),
      el("td", {}, fmtTime(c.time)),
      el("td", { class: "num" }, String(Array.isArray(c.blocks) ? c.blocks.length : c.blocks)),
      el("td", { class: "mono", title: c.hash }, short(c.hash)),
      el("td", { class: "mono", title: c.state_root }, short(c.state_root)),
      el("td", {}, el("a", { href: "/v1/checkpoints/" + c.seq }, "certificate"), " · ",
        el("a", { href: "#explorer", onclick: (e) => { e.preventDefault(); openCheckpoint(c.seq); } }, "verify")));
    if (atTop) tb.prepend(row); else tb.append(row);
    while (tb.rows.length > 25) { shownCheckpoints.delete(Number(tb.rows[tb.rows.length - 1].dataset.seq)); tb.deleteRow(-1); }
  }
  async function loadCheckpoints() {
    try {
      const latest = await api("/v1/checkpoints/latest");
      setFinal(latest.seq);
      const tb = $("checkpoints").tBodies[0];
      clear(tb); shownCheckpoints.clear();
      addCheckpointRow(latest, false);
      const seqs = [];
      for (let s = latest.seq - 1; s >= 1 && s > latest.seq - 15; s--) seqs.push(s);
      const cps = await Promise.all(seqs.map((s) => api("/v1/checkpoints/" + s).catch(() => null)));
      for (const c of cps) if (c) addCheckpointRow(c, false);
    } catch (e) {
      clear($("checkpoint-out"), errorBox(e, { 404: "No checkpoint is final yet." })).hidden = false;
    }
  }
  async function openCheckpoint(seq) {
    const out = $("checkpoint-out");
    out.hidden = false;
    clear(out, el("p", { class: "muted" }, "loading checkpoint " + seq + "…"));
    try {
      const c = await api("/v1/checkpoints/" + seq);
      const sigs = (c.certificate && c.certificate.sigs) || [];
      clear(out,
        el("h3", { id: "checkpoint-title" }, "Checkpoint " + c.seq),
        el("p", {}, "Time ", fmtTime(c.time), " · hash ", el("code", {}, c.hash), " · previous ", el("code", {}, short(c.prev, 16))),
        el("p", {}, "State root ", el("code", {}, c.state_root), " certified by ", String(sigs.length), " ministry signatures."),
        el("p", {}, "To verify offline, open a record of one of its blocks and download its proof: the proof carries this checkpoint and its certificate, and ",
          el("code", {}, "jaminan verify"), " checks them against the genesis."),
        el("p", {}, el("button", { type: "button", onclick: () => download("checkpoint-" + c.seq + ".txt",
          "checkpoint " + c.encoded + "\ncertificate " + c.certificate_encoded + "\n") }, "Download checkpoint and certificate (base64 CBOR)"), " ",
          el("a", { href: "/v1/checkpoints/" + c.seq }, "JSON")),
        el("h3", {}, "Blocks"),
        c.blocks.length ? el("ul", {}, c.blocks.map((h) => el("li", {}, el("a", { href: "#explorer", class: "mono", "data-block": h,
          onclick: (e) => { e.preventDefault(); openBlock(h); } }, h)))) : el("p", { class: "muted" }, "no blocks"));
    } catch (e) { clear(out, errorBox(e)); }
  }
  async function openBlock(hash) {
    const out = $("block-out");
    out.hidden = false;
    clear(out, el("p", { class: "muted" }, "loading block…"));
    try {
      const b = await api("/v1/blocks/" + hash, { auth: true });
      clear(out,
        el("h3", {}, "Block ", el("code", {}, short(hash, 16))),
        el("p", {}, "Producer ", el("code", {}, short(b.header.producer, 20)), " · height ", String(b.header.height),
          " · in checkpoint ", String(b.checkpoint), " at position ", String(b.index)),
        el("div", { class: "scroll" }, el("table", {},
          el("caption", { class: "sr-only" }, "Records of the block"),
          el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "#"), el("th", { scope: "col" }, "Record"), el("th", { scope: "col" }, "Type"), el("th", { scope: "col" }, "Proof"))),
          el("tbody", {}, b.records.map((r, i) => el("tr", {},
            el("td", { class: "num" }, String(i)), el("td", { class: "mono", title: r.id }, short(r.id, 20)), el("td", {}, r.type),
            el("td", {}, el("a", { href: "#explorer", onclick: (e) => { e.preventDefault(); $("record-id").value = r.id; lookupRecord(r.id); } }, "proof and verify"))))))));
    } catch (e) { clear(out, errorBox(e)); }
  }
  async function lookupRecord(id) {
    const out = $("record-out");
    out.hidden = false;
    if (!isHex64(id)) { clear(out, el("p", { class: "message error", role: "alert" }, "A record ID is 64 hexadecimal characters.")); return; }
    clear(out, el("p", { class: "muted" }, "looking up…"));
    try {
      const st = await api("/v1/records/" + id, { auth: true });
      const parts = [el("h3", {}, "Record ", el("code", {}, short(id, 20))),
        el("p", {}, "Type ", st.type || "–", " · status ", el("strong", { id: "record-status" }, st.status),
          st.checkpoint ? " in checkpoint " + st.checkpoint : "", st.receipt ? " · receipt " + (st.receipt.code || "") + (st.receipt.message ? " (" + st.receipt.message + ")" : "") : "")];
      if (st.status !== "pending") {
        try {
          const p = await api("/v1/records/" + id + "/proof", { auth: true });
          const bh = p.proof.block || {};
          parts.push(el("p", {}, "Proof: the record is in the block at height ", String(bh.height), " of producer ", el("code", {}, short(bh.producer, 20)),
            ", ordered in checkpoint ", String(p.checkpoint), "; the proof holds the block's signature, the Merkle paths to the block, the checkpoint and the receipt, and the ministry's certificate."),
            el("p", {}, el("button", { type: "button", id: "proof-download", onclick: () => download("record-" + id.slice(0, 16) + ".proof", p.encoded + "\n") },
              "Download proof"), " then verify offline: ", el("code", {}, "jaminan verify --genesis genesis.json record-" + id.slice(0, 16) + ".proof")));
        } catch (e) { parts.push(errorBox(e)); }
      }
      clear(out, parts);
    } catch (e) { clear(out, errorBox(e, { 404: "No record with this ID is known to this node." })); }
  }
  $("record-form").addEventListener("submit", (ev) => { ev.preventDefault(); lookupRecord($("record-id").value.trim().toLowerCase()); });

  // --- transfer tracker ---------------------------------------------------------------------
  const order = ["applied", "letter_sent", "out_processed", "completed"];
  async function track(tokenText) {
    const out = $("tracker-out");
    if (!isHex64(tokenText)) {
      clear(out, el("p", { class: "message error", role: "alert", id: "tracker-error" }, "A case token is 64 hexadecimal characters, as printed on your transfer receipt."));
      return;
    }
    clear(out, el("p", { class: "muted" }, "looking up the case…"));
    try {
      const t = await api("/v1/transfers/" + tokenText.toLowerCase());
      const at = {};
      for (const s of t.stages) at[s.stage === "partial" ? "out_processed" : s.stage] = s;
      const closed = t.stage === "completed" || t.stage === "rejected";
      const items = [];
      let nextMarked = false;
      for (const name of order) {
        const s = at[name];
        if (s) {
          items.push(el("li", { class: "done", "data-stage": name }, el("span", { class: "mark", "aria-hidden": "true" }, "✓"),
            el("span", {}, el("strong", {}, stageNames[s.stage] || s.stage), " — ", s.at || "date not recorded", " (checkpoint ", String(s.checkpoint), ")")));
        } else if (!closed && !nextMarked) {
          nextMarked = true;
          items.push(el("li", { class: t.overdue ? "overdue" : "todo", "data-stage": name },
            el("span", { class: "mark", "aria-hidden": "true" }, t.overdue ? "!" : "…"),
            el("span", {}, el("strong", {}, stageNames[name]), " — due by ", t.deadline || "–", t.overdue ? el("strong", {}, " — OVERDUE") : null)));
        } else if (!closed) {
          items.push(el("li", { class: "todo", "data-stage": name }, el("span", { class: "mark", "aria-hidden": "true" }, "·"), el("span", {}, stageNames[name])));
        }
      }
      if (at.rejected) items.push(el("li", { class: "overdue", "data-stage": "rejected" }, el("span", { class: "mark", "aria-hidden": "true" }, "✗"),
        el("span", {}, el("strong", {}, "Rejected"), " — ", at.rejected.at || "")));
      clear(out,
        el("div", { class: "panel", id: "tracker-result" },
          el("h2", {}, "Transfer ", prov(t.from), " → ", prov(t.to)),
          el("p", {}, "Stage ", el("span", { class: "badge " + (t.overdue ? "bad" : closed ? "ok" : "plain"), id: "tracker-stage" }, t.stage),
            t.overdue ? el("span", { class: "overdue", id: "tracker-overdue" }, " Overdue: the deadline " + t.deadline + " has passed.") :
              (!closed && t.deadline ? " · next deadline " + t.deadline : "")),
          el("p", {}, "Scheme ", t.scheme || "pension", " · ", String(t.months), " months · amount in transit ", yuan(t.amount.total),
            " yuan (individual account ", yuan(t.amount.individual), ", pooled ", yuan(t.amount.pooled), ")"),
          el("ol", { class: "stages", "aria-label": "Stages of the transfer" }, items)));
    } catch (e) {
      clear(out, el("div", { id: "tracker-error" }, errorBox(e, { 404: "No transfer case with this token is known yet. If you applied today, it appears once the application is final (a few seconds); otherwise check the token." })));
    }
  }
  $("tracker-form").addEventListener("submit", (ev) => { ev.preventDefault(); track($("case-token").value.trim()); });

  // --- worker statement ------------------------------------------------------------------------
  function table(caption, heads, rows, rowClass) {
    return el("div", { class: "scroll" }, el("table", {},
      el("caption", { class: "sr-only" }, caption),
      el("thead", {}, el("tr", {}, heads.map((h) => el("th", { scope: "col", class: h.endsWith(" ") ? "num" : null }, h.trim())))),
      el("tbody", {}, rows.length ? rows.map((r, i) => el("tr", { class: rowClass ? rowClass(i) : null }, r.map((c, j) => el("td", { class: heads[j].endsWith(" ") ? "num" : null }, c instanceof Node ? c : String(c))))) :
        el("tr", {}, el("td", { colspan: heads.length, class: "muted" }, "none")))));
  }
  let lastStatement = null;
  async function showStatement(id) {
    const out = $("statement-out");
    $("statement-print").disabled = true;
    lastStatement = null;
    if (!/^[0-9]{17}[0-9Xx]$/.test(id)) {
      clear(out, el("p", { class: "message error", role: "alert" }, "A resident ID number is 18 characters: 17 digits and a digit or X."));
      return;
    }
    clear(out, el("p", { class: "muted" }, "building and verifying the statement…"));
    try {
      const s = await api("/v1/workers/" + encodeURIComponent(id.toUpperCase()) + "/statement/print", { auth: true });
      lastStatement = s;
      const byProv = Object.entries(s.summary.regions || {}).sort();
      const contribs = s.contributions.slice().sort((a, b) => (a.province + a.period).localeCompare(b.province + b.period));
      clear(out, el("article", { id: "statement", "aria-label": "Statement" },
        el("h2", {}, "Statement of contributions and transfers"),
        el("div", { class: "statement-head" },
          el("p", {}, "Worker pseudonym ", el("code", {}, short(s.worker, 24))),
          el("p", {}, "Network ", s.network, " · as of final checkpoint ", el("strong", {}, String(s.checkpoint))),
          el("p", {}, "Benefit place ", el("strong", { id: "benefit-place" }, prov(s.benefit_place))),
          el("p", {}, String(s.records), " records, each proven in a final checkpoint")),
        el("h3", {}, "Contributions by province (pension)"),
        table("Contributions by province", ["Province", "Months ", "Employee (yuan) ", "Employer (yuan) "],
          byProv.map(([p, r]) => [prov(p), r.months, yuan(r.employee_amount), yuan(r.employer_amount)])),
        el("h3", {}, "Balances"),
        table("Balances by province and scheme", ["Province", "Scheme", "Months ", "Individual account (yuan) ", "Pooled transferable (yuan) ", "Status", "Period"],
          s.regions.map((r) => [prov(r.region), r.scheme, r.months, yuan(r.individual_balance), yuan(r.pooled_transferable), r.status + (r.temporary ? " (temporary)" : ""), (r.first || "") + " – " + (r.last || "")])),
        el("h3", {}, "Contributions by month"),
        table("Contributions by month", ["Province", "Month", "Scheme", "Employer", "Base (yuan) ", "Employee (yuan) ", "Employer (yuan) ", "Receipt", "Checkpoint "],
          contribs.map((c) => [prov(c.province), c.period + (c.through ? "–" + c.through : ""), c.scheme, c.employer || "individual", yuan(c.base), yuan(c.employee_amount), yuan(c.employer_amount), c.code, c.checkpoint])),
        el("h3", {}, "Employment"),
        table("Employment", ["Employer", "Region", "Start", "End"], s.employments.map((e) => [e.employer, e.region, e.start || "–", e.end || "current"])),
        el("h3", {}, "Transfers"),
        table("Transfers", ["From", "To", "Scheme", "Stage", "Deadline", "Case token"],
          s.transfers.map((t) => [prov(t.from), prov(t.to), t.scheme, t.stage + (t.overdue ? " (overdue)" : ""), t.deadline || "–",
            el("a", { href: "#tracker", class: "mono", onclick: (e) => { e.preventDefault(); $("case-token").value = t.case; location.hash = "#tracker"; track(t.case); } }, short(t.case, 16))]),
          (i) => (s.transfers[i].overdue ? "overdue" : null)),
        el("h3", {}, "Consents and other records"),
        table("Consents and other records", ["Type", "Detail", "Checkpoint "], s.other.map((o) => [o.type, o.detail, o.checkpoint])),
        el("h3", {}, "Who looked at this worker's data"),
        table("Access log", ["Reader", "What", "Purpose", "Checkpoint "], s.access.map((a) => [a.reader, a.what, a.purpose || "–", a.checkpoint])),
        el("h3", {}, "Proof"),
        el("p", {}, "The QR code", s.qr.codes.length > 1 ? "s carry" : " carries", " the whole signed statement. Scan ",
          s.qr.codes.length > 1 ? "all " + s.qr.codes.length + " codes, in any order, into one text file" : "it into a text file",
          " and check it offline: ", el("code", {}, "jaminan verify --genesis genesis.json statement.txt")),
        s.qr.codes.length ? el("div", { class: "qr-grid", id: "qr-codes" }, s.qr.codes.map((q) =>
          el("figure", {}, el("img", { src: "data:image/png;base64," + q.png, alt: "Statement proof, QR code " + q.index + " of " + q.total, "data-payload": q.payload }),
            el("figcaption", {}, "Code " + q.index + " of " + q.total))))
          : el("p", { class: "message info" }, s.qr.omitted || "No QR code."),
        el("p", { class: "no-print" }, el("button", { type: "button", id: "statement-download", onclick: () => download("statement.txt", s.encoded + "\n") }, "Download statement file"))));
      $("statement-print").disabled = false;
    } catch (e) {
      clear(out, errorBox(e, { 404: "No records of this worker are final on this network." }));
    }
  }
  $("statement-form").addEventListener("submit", (ev) => { ev.preventDefault(); showStatement($("worker-id").value.trim()); });
  $("statement-print").addEventListener("click", () => window.print());

  // --- employer compliance -------------------------------------------------------------------
  async function compliance(uscc) {
    const out = $("compliance-out");
    if (!/^[0-9A-Za-z]{15,18}$/.test(uscc)) {
      clear(out, el("p", { class: "message error", role: "alert" }, "A unified social credit code is 18 letters and digits."));
      return;
    }
    clear(out, el("p", { class: "muted" }, "checking…"));
    try {
      const c = await api("/v1/employers/" + encodeURIComponent(uscc.toUpperCase()) + "/compliance", { auth: true });
      const pct = c.months_declared ? Math.round(100 * Math.min(c.months_paid, c.months_declared) / c.months_declared) : 100;
      clear(out, el("div", { class: "panel", id: "compliance-result" },
        el("h2", {}, "Employer ", el("code", {}, c.employer)),
        el("div", { class: "cards" }, card("Workers", String(c.workers), "comp-workers"), card("Months declared", String(c.months_declared), "comp-declared"),
          card("Months paid", String(c.months_paid), "comp-paid"), card("Paid of declared", pct + "%", "comp-pct"),
          card("Unpaid runs", String(c.gaps.length) + (c.gaps_truncated ? "+" : ""), "comp-gaps"), card("Counted through", c.through, "comp-through", true)),
        el("h3", {}, "Months declared but not paid"),
        table("Unpaid months per worker", ["Worker pseudonym", "From", "To", "Months "], c.gaps.map((g) => [short(g.worker, 16), g.from, g.to, g.months]),
          () => "overdue")));
    } catch (e) {
      clear(out, errorBox(e, { 404: "No employment or contribution of this employer is on the ledger.", 400: "That is not a valid unified social credit code: " + e.message }));
    }
  }
  $("compliance-form").addEventListener("submit", (ev) => { ev.preventDefault(); compliance($("uscc").value.trim()); });

  // --- start --------------------------------------------------------------------------------
  showTokenState();
  route();
  startEvents();
  if (current !== "network") loadNetwork(); // the node's name in the header and the final sequence
})();
