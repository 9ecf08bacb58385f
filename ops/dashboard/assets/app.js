// app.js: the dashboard page. It loads /api/v1/overview (the last ten
// minutes), then follows /api/v1/events (one sample a second); when the event
// stream fails it polls the overview instead. The client list comes from the
// admin API, /api/v1/clients. Everything from the broker is put in the page
// as text (textContent), never as markup: client ids and usernames are
// chosen by clients.
"use strict";

(function () {
  const SPAN = 600000; // the charts' widest span, ten minutes, in milliseconds
  const POLL = 2000; // polling period when the event stream is down
  const CLIENTS_EVERY = 5000;

  const state = { hist: [], over: null, interval: 1000, mode: "connecting" };
  const $ = (sel) => document.querySelector(sel);

  // ---- formatting: every figure with its unit ----
  const intFmt = new Intl.NumberFormat("en-US");
  function num(v) {
    if (v >= 1e9) return (v / 1e9).toFixed(v >= 1e10 ? 0 : 1) + "G";
    if (v >= 1e6) return (v / 1e6).toFixed(v >= 1e7 ? 0 : 1) + "M";
    if (v >= 1e4) return (v / 1e3).toFixed(v >= 1e5 ? 0 : 1) + "k";
    if (v >= 100 || Number.isInteger(v)) return intFmt.format(Math.round(v));
    return v.toFixed(v >= 10 ? 1 : 2).replace(/\.?0+$/, "");
  }
  function bytes(v) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i === 0 ? Math.round(v) : v.toFixed(v >= 100 ? 0 : 1)) + " " + units[i];
  }
  function micros(us) {
    if (!(us > 0)) return "–";
    if (us >= 1e6) return (us / 1e6).toFixed(2) + " s";
    if (us >= 1e3) return (us / 1e3).toFixed(us >= 1e4 ? 0 : 1) + " ms";
    return us.toFixed(us >= 100 ? 0 : us >= 1 ? 1 : 2) + " µs";
  }
  function uptime(s) {
    const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60, sec = Math.floor(s % 60);
    if (d > 0) return d + " d " + h + " h";
    if (h > 0) return h + " h " + m + " min";
    if (m > 0) return m + " min " + sec + " s";
    return sec + " s";
  }
  function ago(date) {
    const s = Math.max(0, (Date.now() - date.getTime()) / 1000);
    if (s < 60) return Math.floor(s) + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    return Math.floor(s / 86400) + " d ago";
  }
  const clock = (d) => d.toLocaleTimeString([], { hour12: false });
  const protocols = { 3: "MQTT 3.1", 4: "MQTT 3.1.1", 5: "MQTT 5.0" };

  function setText(el, text) { if (el && el.textContent !== text) el.textContent = text; }

  // card sets a figure: the shown text, its unit, and the raw number in
  // data-value (the counter since start in data-total) for anyone, tests
  // included, who wants it exact.
  function card(stat, raw, text, unit, sub, total) {
    const c = document.querySelector('[data-stat="' + stat + '"]');
    if (!c) return;
    const v = c.querySelector(".value");
    v.dataset.value = String(raw);
    if (total !== undefined) v.dataset.total = String(total);
    v.textContent = text;
    if (unit) {
      const u = document.createElement("span");
      u.className = "unit";
      u.textContent = unit;
      v.appendChild(u);
    }
    if (sub !== undefined) setText(c.querySelector(".sub"), sub);
    return c;
  }

  const sum = (o) => Object.values(o || {}).reduce((a, b) => a + b, 0);

  // ---- data in ----
  function takeOverview(o) {
    state.over = o;
    state.interval = o.interval_ms || 1000;
    if (o.history) state.hist = o.history.slice();
    schedule();
  }
  function takeSample(o) {
    const last = state.hist[state.hist.length - 1];
    if (!last || o.rates.t > last.t) state.hist.push(o.rates);
    const cut = o.rates.t - SPAN - state.interval;
    while (state.hist.length && state.hist[0].t < cut) state.hist.shift();
    o.history = undefined;
    state.over = o;
    schedule();
  }

  let frame = 0;
  function schedule() { if (!frame) frame = requestAnimationFrame(() => { frame = 0; render(); }); }

  // ---- rendering ----
  function colour(i) { return getComputedStyle(document.documentElement).getPropertyValue("--c" + ((i % 8) + 1)).trim(); }

  function chart(id, series, format) {
    const canvas = document.getElementById("chart-" + id);
    const times = state.hist.map((s) => s.t);
    series.forEach((s, i) => { s.color = s.color || colour(i); });
    // The axis spans the history there is, from one minute to ten: a broker
    // started a moment ago shows its first seconds across the chart.
    const have = times.length ? times[times.length - 1] - times[0] : 0;
    const span = Math.min(SPAN, Math.max(60000, have));
    PlumeChart.draw(canvas, { times, series, format, span, gap: 3 * state.interval });
    const legend = document.getElementById("legend-" + id);
    legend.replaceChildren(...series.map((s) => {
      const span = document.createElement("span");
      const key = document.createElement("i");
      key.style.background = s.color;
      const val = document.createElement("b");
      val.textContent = format(s.values.length ? s.values[s.values.length - 1] : 0);
      span.append(key, document.createTextNode(s.name + " "), val);
      return span;
    }));
  }

  function render() {
    const o = state.over;
    if (!o) return;
    const t = o.totals, r = o.rates;
    setText($("#version"), o.version || "unknown");
    setText($("#uptime"), uptime(o.uptime_seconds));
    setText($("#updated"), r.t ? clock(new Date(r.t)) : "…");

    card("connections", t.connections, intFmt.format(t.connections), "", intFmt.format(t.sessions) + " sessions");
    card("messages_in", r.messages_in, num(r.messages_in), "msg/s", bytes(r.bytes_in) + "/s · " + num(t.messages_in) + " total", t.messages_in);
    card("messages_out", r.messages_out, num(r.messages_out), "msg/s", bytes(r.bytes_out) + "/s · " + num(t.messages_out) + " total", t.messages_out);
    const drops = sum(r.drops), refusals = r.refusals.connect + r.refusals.transport + r.refusals.authz;
    card("drops", drops, num(drops), "/s", num(t.dropped) + " since start").dataset.alert = String(drops > 0);
    card("refusals", refusals, num(refusals), "/s", num(t.refused + t.transport_refused) + " connects, " + num(t.authz_denied) + " denials").dataset.alert = String(refusals > 0);
    card("subscriptions", t.subscriptions, intFmt.format(t.subscriptions), "", intFmt.format(t.retained) + " retained");
    card("queued_bytes", t.queued_bytes, bytes(t.queued_bytes), "");

    const h = state.hist;
    const col = (f) => h.map(f);
    chart("connections", [{ name: "connected", values: col((s) => s.connections) }, { name: "sessions", values: col((s) => s.sessions) }], num);
    chart("messages", [{ name: "in", values: col((s) => s.messages_in) }, { name: "out", values: col((s) => s.messages_out) }], num);
    const causes = [["queue full", "queue_full"], ["queue bytes", "queue_bytes"], ["memory budget", "memory_budget"], ["QoS 0", "qos0"], ["shared", "shared"], ["other", "other"]];
    chart("drops", causes.map(([name, k]) => ({ name, values: col((s) => s.drops[k]) })), num);
    const kinds = [["connect", "connect"], ["transport", "transport"], ["auth", "auth"], ["authz", "authz"]];
    chart("refusals", kinds.map(([name, k]) => ({ name, values: col((s) => s.refusals[k]) })), num);

    const names = [];
    for (const s of h) for (const p of s.plugins || []) if (!names.includes(p.name)) names.push(p.name);
    chart("plugins", names.map((n) => ({ name: n, values: col((s) => { const p = (s.plugins || []).find((q) => q.name === n); return p ? p.mean_us : 0; }) })), (v) => (v > 0 ? micros(v) : "0"));
    rows("#plugins", o.plugins, 5, "no plugins", (p) => [
      [p.name, "mono"], [num(p.calls) + "/s", "num"], [num(p.errors) + "/s", "num"], [micros(p.mean_us), "num"], [micros(p.p99_us), "num"]]);
    rows("#refusals", o.refusals, 7, "none", (e) => [
      [clock(new Date(e.time))], [e.class], [e.client_id, "mono"], [e.username || ""], [e.remote || "", "mono"], [e.listener || ""], [e.reason || (e.topic ? "topic " + e.topic : "")]]);
  }

  // rows fills a table's body: one row per item, cells from cells(item) as
  // [text, class]; an empty list shows one row saying so.
  function rows(sel, items, width, none, cells) {
    const body = document.querySelector(sel + " tbody");
    if (!items || items.length === 0) {
      const tr = document.createElement("tr");
      tr.className = "empty";
      const td = document.createElement("td");
      td.colSpan = width;
      td.textContent = none;
      tr.append(td);
      body.replaceChildren(tr);
      return;
    }
    body.replaceChildren(...items.map((it) => {
      const tr = document.createElement("tr");
      for (const [text, cls] of cells(it)) {
        const td = document.createElement("td");
        td.textContent = text === undefined || text === null ? "" : String(text);
        if (cls) td.className = cls;
        tr.append(td);
      }
      return tr;
    }));
  }

  // ---- feeds ----
  function setMode(mode, text) {
    state.mode = mode;
    $("#feed").dataset.mode = mode;
    setText($("#feed-text"), text);
  }

  async function fetchJSON(url, signal) {
    const res = await fetch(url, { signal, headers: { Accept: "application/json" }, cache: "no-store" });
    if (!res.ok) throw new Error("HTTP " + res.status);
    return res.json();
  }

  let pollTimer = 0, source = null;
  async function poll() {
    try {
      // The history once; then the latest sample alone.
      if (state.over) takeSample(await fetchJSON("/api/v1/overview?history=0"));
      else takeOverview(await fetchJSON("/api/v1/overview"));
      if (pollTimer && state.mode !== "live") setMode("polling", "polling every " + POLL / 1000 + " s");
    } catch (e) {
      setMode("offline", "broker unreachable (" + e.message + ")");
    }
  }
  function startPolling() {
    if (pollTimer) return;
    poll();
    pollTimer = setInterval(poll, POLL);
    // Try the event stream again now and then: a full server frees places.
    setTimeout(() => { stopPolling(); follow(); }, 60000);
  }
  function stopPolling() { clearInterval(pollTimer); pollTimer = 0; }

  function follow() {
    if (!window.EventSource) { startPolling(); return; }
    source = new EventSource("/api/v1/events");
    source.addEventListener("open", () => { stopPolling(); setMode("live", "live"); });
    source.addEventListener("sample", (ev) => {
      try { takeSample(JSON.parse(ev.data)); } catch (e) { console.error("dashboard: bad event", e); }
    });
    source.addEventListener("error", () => {
      // Refused (503) or broken: poll the overview until the stream is back.
      source.close();
      source = null;
      setMode("polling", "event stream lost; polling");
      startPolling();
    });
  }

  // ---- clients ----
  let clientsAbort = null;
  async function loadClients() {
    if (clientsAbort) clientsAbort.abort();
    const ctl = new AbortController();
    clientsAbort = ctl;
    const q = $("#search").value.trim();
    const url = "/api/v1/clients?limit=100&search=" + encodeURIComponent(q);
    try {
      const r = await fetchJSON(url, ctl.signal);
      const list = r.clients || [];
      setText($("#clients-count"), list.length < (r.total || 0) ? list.length + " of " + intFmt.format(r.total) : intFmt.format(r.total || list.length));
      rows("#clients", list, 8, q ? "no client matches “" + q + "”" : "no clients connected", (c) => {
        const since = c.connected_at ? new Date(c.connected_at) : null;
        return [
          [c.client_id, "mono client-id"], [c.username || ""], [c.remote || "", "mono"], [c.listener || ""],
          [protocols[c.protocol_version] || String(c.protocol_version || "")],
          [since ? clock(since) + " (" + ago(since) + ")" : ""],
          [intFmt.format(c.subscriptions || 0), "num"],
          [intFmt.format(c.queued || 0) + (c.queued_bytes ? " · " + bytes(c.queued_bytes) : ""), "num"],
        ];
      });
    } catch (e) {
      if (e.name === "AbortError") return;
      setText($("#clients-count"), "");
      rows("#clients", [], 8, "client list unavailable (" + e.message + " from /api/v1/clients)", null);
    }
  }
  let typing = 0;
  function onSearch() { clearTimeout(typing); typing = setTimeout(loadClients, 250); }

  window.addEventListener("resize", schedule);
  document.addEventListener("DOMContentLoaded", () => {
    $("#search").addEventListener("input", onSearch);
    poll().then(follow);
    loadClients();
    setInterval(loadClients, CLIENTS_EVERY);
    setInterval(() => { if (state.over) { state.over.uptime_seconds += 1; setText($("#uptime"), uptime(state.over.uptime_seconds)); } }, 1000);
  });
})();
