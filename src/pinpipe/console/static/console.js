/* pinpipe console: live figures (server-sent events), bar charts, sortable tables.
   Pages are rendered on the server; this script only redraws what changes. */
(function () {
  "use strict";
  const body = document.body;
  const prefix = body.dataset.prefix || "/ui";
  const page = body.dataset.page;
  const TOP_N = 12;

  function json(id) {
    const el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }
  function get(obj, path) {
    return path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);
  }
  function fmt(v) {
    if (v === null || v === undefined) return "–";
    if (typeof v === "number") {
      return Number.isInteger(v) ? v.toLocaleString("en-US") : v.toLocaleString("en-US", { maximumFractionDigits: 1 });
    }
    return String(v);
  }
  function cell(tag, text, cls) {
    const el = document.createElement(tag);
    el.textContent = text;
    if (cls) el.className = cls;
    return el;
  }
  function fill(id, rows, numeric) {
    const table = document.getElementById(id);
    if (!table) return;
    const tbody = table.tBodies[0];
    const fresh = document.createElement("tbody");
    for (const row of rows) {
      const tr = document.createElement("tr");
      row.forEach((v, i) => tr.appendChild(cell("td", v === null || v === undefined ? "" : fmt(v), numeric && numeric[i] ? "num" : "")));
      fresh.appendChild(tr);
    }
    table.replaceChild(fresh, tbody);
  }
  function bump(el) {
    el.dataset.updates = String(Number(el.dataset.updates || "0") + 1);
    el.dataset.updatedAt = String(Date.now());
  }

  /* -- charts ---------------------------------------------------------------------------- */

  function lineChart(el, names, data) {
    if (!window.uPlot || !el) return null;
    const colors = ["#0b7285", "#e8590c", "#5f3dc4", "#2b8a3e", "#c2255c", "#495057"];
    const opts = {
      width: Math.max(300, el.clientWidth || 500),
      height: 200,
      series: [{}].concat(names.map((n, i) => ({ label: n, stroke: colors[i % colors.length], width: 2 }))),
      axes: [{}, { size: 60 }],
      legend: { live: false },
    };
    return new window.uPlot(opts, data, el);
  }

  function bars(el, grid) {
    if (!el) return;
    el.replaceChildren();
    const cols = grid.columns || [];
    const numeric = grid.numeric || [];
    if (!cols.length || !(grid.rows || []).length) {
      el.appendChild(cell("p", "no rows yet", "note"));
      bump(el);
      return;
    }
    const measure = grid.measure || (numeric.length ? numeric[numeric.length - 1] : null);
    const mi = cols.indexOf(measure);
    const labels = (grid.labels || cols.filter((c) => c !== measure)).map((c) => cols.indexOf(c));
    const rows = (grid.rows || []).slice();
    if (mi >= 0) rows.sort((a, b) => (b[mi] || 0) - (a[mi] || 0));
    const top = rows.slice(0, TOP_N);
    const max = mi >= 0 ? Math.max(...top.map((r) => Number(r[mi]) || 0), 1) : 1;
    for (const r of top) {
      const line = document.createElement("div");
      line.className = "bar-row";
      const label = labels.map((i) => (r[i] === null ? "∅" : String(r[i]))).join(" · ");
      line.appendChild(cell("span", label || "(all)", "bar-label"));
      const bar = cell("span", "", "bar");
      bar.style.width = (mi >= 0 ? (100 * (Number(r[mi]) || 0)) / max : 0).toFixed(1) + "%";
      const track = cell("span", "", "bar-track");
      track.appendChild(bar);
      line.appendChild(track);
      line.appendChild(cell("span", mi >= 0 ? fmt(r[mi]) : "", "bar-value"));
      el.appendChild(line);
    }
    if (rows.length > TOP_N) el.appendChild(cell("p", "… " + (rows.length - TOP_N) + " more", "note more"));
    el.dataset.rows = String(rows.length);
    bump(el);
  }

  /* -- live figures ------------------------------------------------------------------------ */

  function live(handler) {
    if (!window.EventSource) return;
    const state = document.getElementById("live-state");
    const source = new EventSource(prefix + "/events");
    source.addEventListener("overview", (e) => {
      if (state) state.className = "live-dot on";
      handler(JSON.parse(e.data));
    });
    source.onerror = () => {
      if (state) state.className = "live-dot off";
    };
  }

  function overview() {
    const history = json("history") || [];
    const t = history.map((p) => p.t);
    const rates = [t, history.map((p) => p.records_per_s), history.map((p) => p.requests_per_s)];
    const rows = [t.slice(), history.map((p) => p.stream_rows)];
    const rateEl = document.getElementById("rate-chart");
    const rowsEl = document.getElementById("rows-chart");
    const rateChart = lineChart(rateEl, ["records/s", "requests/s"], rates);
    const rowsChart = lineChart(rowsEl, ["stream rows"], rows);
    const MAX = 300;
    function update(snap) {
      document.querySelectorAll("[data-fig]").forEach((el) => {
        el.textContent = fmt(get(snap, el.dataset.fig));
      });
      const rej = document.getElementById("rejections");
      if (rej) {
        rej.replaceChildren();
        const entries = Object.entries(snap.ingest.rejections || {});
        if (!entries.length) rej.appendChild(cell("li", "none"));
        for (const [reason, n] of entries) {
          const li = cell("li", reason + " ");
          li.appendChild(cell("b", fmt(n)));
          rej.appendChild(li);
        }
      }
      fill("doors", snap.ingest.doors.map((d) => [d.name, d.requests, d.records, d.requests_per_s, d.records_per_s]), [0, 1, 1, 1, 1]);
      fill("topics", snap.ingest.topics.map((d) => [d.topic, d.records, d.records_per_s]), [0, 1, 1]);
      fill("partitions", snap.log.partitions.map((p) => [p.topic, p.partition, p.end, p.sink_lag, p.stream_lag]), [0, 1, 1, 1, 1]);
      fill("table-rows", ["pin", "geo", "user"].map((n) => [n, snap.tables.batch.tables[n], snap.tables.stream.tables[n], snap.tables.quarantine.tables[n]]), [0, 1, 1, 1]);
      const marks = [];
      for (const [table, m] of Object.entries(snap.batch.watermark || {})) for (const [where, off] of Object.entries(m)) marks.push([table, where, off]);
      fill("watermark", marks, [0, 0, 1]);
      const at = snap.batch.last_commit_at;
      const last = document.getElementById("batch-last"), none = document.getElementById("batch-none");
      if (last && none) {
        last.hidden = !at; none.hidden = !!at;
        document.getElementById("batch-at").dataset.epoch = at ? String(at) : "";
      }
      fill("stages", Object.entries(snap.stages || {}).map(([n, h]) => [n, h.state, h.restarts, h.last_error || ""]), [0, 0, 1, 0]);
      const firing = (snap.alerts && snap.alerts.firing) || [];
      fill("alerts", firing.map((a) => [a.rule, a.key, new Date(a.since * 1000).toISOString(), a.value, a.delivery, a.message]), [0, 0, 0, 1, 0, 0]);
      const noAlerts = document.getElementById("alerts-none");
      if (noAlerts) noAlerts.hidden = firing.length > 0;
      for (const series of [rates, rows]) if (series[0].length >= MAX) series.forEach((s) => s.shift());
      rates[0].push(snap.at); rates[1].push(snap.ingest.records_per_s); rates[2].push(snap.ingest.requests_per_s);
      rows[0].push(snap.at); rows[1].push(snap.tables.stream.total);
      if (rateChart) rateChart.setData(rates);
      if (rowsChart) rowsChart.setData(rows);
      if (rateEl) { rateEl.dataset.last = String(snap.ingest.records_per_s); bump(rateEl); }
      if (rowsEl) { rowsEl.dataset.last = String(snap.tables.stream.total); bump(rowsEl); }
      times();
      document.dispatchEvent(new CustomEvent("pinpipe:overview", { detail: snap }));
    }
    live(update);
  }

  /* -- analytics --------------------------------------------------------------------------- */

  function analytics(onGrid) {
    const charts = Array.from(document.querySelectorAll("[data-analytic]"));
    let version = null;
    function load() {
      for (const el of charts) {
        fetch(prefix + "/api/analytics/" + el.dataset.analytic, { credentials: "same-origin" })
          .then((r) => r.json().then((j) => ({ ok: r.ok, j })))
          .then(({ ok, j }) => {
            if (!ok) { el.replaceChildren(cell("p", j.error || "not available", "note")); bump(el); return; }
            bars(el, j);
            el.dataset.version = (j.version || []).join("-");
            if (onGrid) onGrid(j);
          })
          .catch(() => {});
      }
    }
    // redraw when a table the analytics read got a commit, at most every REFETCH_MS
    const REFETCH_MS = 3000;
    let last = Date.now();
    let pending = null;
    function soon() {
      if (pending) return;
      const wait = Math.max(0, last + REFETCH_MS - Date.now());
      pending = setTimeout(() => { pending = null; last = Date.now(); load(); }, wait);
    }
    load();
    live((snap) => {
      const v = snap.tables && snap.tables.version;
      if (version !== null && v !== version) soon();
      version = v;
    });
  }

  /* -- tables ------------------------------------------------------------------------------ */

  function sortable(table) {
    const heads = table.tHead ? Array.from(table.tHead.rows[0].cells) : [];
    heads.forEach((th, i) => {
      const button = th.querySelector("button");
      if (!button) return;
      button.addEventListener("click", () => {
        const asc = th.getAttribute("aria-sort") !== "ascending";
        heads.forEach((h) => h.removeAttribute("aria-sort"));
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        const tbody = table.tBodies[0];
        const rows = Array.from(tbody.rows);
        const num = th.classList.contains("num");
        rows.sort((a, b) => {
          const x = a.cells[i].textContent, y = b.cells[i].textContent;
          const c = num ? (parseFloat(x.replace(/,/g, "")) || 0) - (parseFloat(y.replace(/,/g, "")) || 0) : x.localeCompare(y);
          return asc ? c : -c;
        });
        rows.forEach((r) => tbody.appendChild(r));
      });
    });
  }
  function searchable(input) {
    const table = document.getElementById(input.dataset.filterTable);
    if (!table) return;
    input.addEventListener("input", () => {
      const needle = input.value.toLowerCase();
      let shown = 0;
      for (const row of table.tBodies[0].rows) {
        const hit = !needle || row.textContent.toLowerCase().includes(needle);
        row.hidden = !hit;
        if (hit) shown += 1;
      }
      table.dataset.shown = String(shown);
    });
  }
  function refill(grid) {
    const table = document.getElementById("result");
    if (!table) return;
    const numeric = grid.columns.map((c) => grid.numeric.includes(c));
    const tbody = document.createElement("tbody");
    for (const row of grid.rows) {
      const tr = document.createElement("tr");
      row.forEach((v, i) => tr.appendChild(cell("td", v === null ? "" : String(v), numeric[i] ? "num" : "")));
      tbody.appendChild(tr);
    }
    table.replaceChild(tbody, table.tBodies[0]);
    const count = document.getElementById("row-count");
    if (count) count.textContent = String(grid.rows.length);
    const search = document.getElementById("search");
    if (search) search.dispatchEvent(new Event("input"));
  }

  function times() {
    document.querySelectorAll("time[data-epoch]").forEach((el) => {
      if (!el.dataset.epoch) return;
      const d = new Date(Number(el.dataset.epoch) * 1000);
      el.textContent = d.toISOString().replace("T", " ").slice(0, 19) + " UTC";
    });
  }

  function quarantineChart() {
    const series = json("series");
    const el = document.getElementById("quarantine-chart");
    if (!series || !el || !series.t.length) return;
    const names = Object.keys(series.by);
    lineChart(el, names, [series.t].concat(names.map((n) => series.by[n])));
    bump(el);
  }

  /* -- real time --------------------------------------------------------------------------- */

  function realtime() {
    const source = document.getElementById("realtime");
    if (!source) return;
    const minutes = source.dataset.minutes;
    const error = document.getElementById("realtime-error");
    function draw(data) {
      error.hidden = !data.error;
      error.textContent = data.error || "";
      document.querySelectorAll("[data-realtime]").forEach((el) => {
        const grid = data.grids[el.dataset.realtime];
        if (grid) bars(el, grid);
      });
    }
    draw(JSON.parse(source.textContent));
    setInterval(() => {
      fetch(prefix + "/api/realtime?minutes=" + minutes, { credentials: "same-origin" })
        .then((r) => r.json()).then(draw).catch(() => {});
    }, 2000);
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("table.sortable").forEach(sortable);
    document.querySelectorAll("input[data-filter-table]").forEach(searchable);
    document.querySelectorAll("select[data-resubmit]").forEach((s) =>
      s.addEventListener("change", () => { window.location.search = "?table=" + encodeURIComponent(s.value); }));
    times();
    if (page === "overview") overview();
    if (page === "analytics") {
      const grid = json("grid");
      if (grid) { bars(document.getElementById("chart"), grid); analytics(refill); }
      else analytics(null);
    }
    if ((page === "explore" || page === "sql") && json("grid")) bars(document.getElementById("chart"), json("grid"));
    if (page === "quarantine") quarantineChart();
    if (page === "realtime") realtime();
  });
})();
