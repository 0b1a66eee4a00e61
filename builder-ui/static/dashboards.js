// Dashboards: every chart widget drawn with ECharts from the data the server shaped for it
// (the numbers come from reports run as the viewer; nothing is computed here). A click on a
// bar, a point or a slice opens the record list behind it (the drill link on the point).
// Filters reload the widgets through htmx; charts in the new content are drawn again.
// The dashboard builder (below) places widgets on the same grid and saves the dashboard
// document through the metadata API.
(function () {
  if (!document.querySelector("[data-dashboard]")) return;
  if (window.tesseraDashboards) {
    window.tesseraDashboards.drawAll(document);
    return;
  }
  const script = document.currentScript;
  const echartsUrl = (script && script.dataset.echarts) || "/static/vendor/echarts.min.js";
  const charts = new Map();
  let loading = null;

  function ensureECharts() {
    if (window.echarts) return Promise.resolve(window.echarts);
    if (!loading) {
      loading = new Promise((resolve, reject) => {
        const tag = document.createElement("script");
        tag.src = echartsUrl;
        tag.onload = () => resolve(window.echarts);
        tag.onerror = () => reject(new Error("ECharts did not load"));
        document.head.appendChild(tag);
      });
    }
    return loading;
  }

  // Percentages (a KPI's change, a funnel's conversions) come written by the server in the
  // house style every page uses (tessera.meta.percents: "85.7 %").
  const numberFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
  const compactFormat = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });
  const num = (text) => (text === null || text === undefined || text === "" ? null : Number(text));

  function formatNumbers(root) {
    root.querySelectorAll("[data-number]").forEach((el) => {
      const value = num(el.dataset.number);
      if (value !== null && !Number.isNaN(value)) el.textContent = numberFormat.format(value);
    });
  }

  const point = (p) => ({ value: num(p.value), drill: p.drill });

  // Lengths of time (a time-in-stage report's average, in seconds) read in days or hours.
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "";
    const days = seconds / 86400;
    if (Math.abs(days) >= 1) return `${numberFormat.format(Math.round(days * 10) / 10)} d`;
    const hours = seconds / 3600;
    if (Math.abs(hours) >= 1) return `${numberFormat.format(Math.round(hours * 10) / 10)} h`;
    return `${numberFormat.format(Math.round(seconds / 60))} min`;
  }

  function seriesOption(type, data) {
    const kind = type === "line" || type === "area" ? "line" : "bar";
    const durations = data.series.length > 0 && data.series.every((s) => s.type === "duration");
    return {
      tooltip: { trigger: "axis", valueFormatter: durations ? duration : undefined },
      legend: data.series.length > 1 ? { top: 0, type: "scroll" } : undefined,
      grid: { left: 8, right: 16, top: data.series.length > 1 ? 32 : 16, bottom: 8, containLabel: true },
      // Every category named (a pipeline's stages), slanted when there are many; a name
      // too long for its place is cut short (the tooltip says it whole).
      xAxis: { type: "category", data: data.categories.map((c) => c.label), name: data.x_label || "",
               axisLabel: { interval: 0, rotate: data.categories.length > 3 ? 30 : 0, width: 96,
                            overflow: "truncate", hideOverlap: true } },
      // The values' scale read at a glance (1.2M, 350K). An axisLabel left undefined would
      // replace ECharts' own and draw none.
      yAxis: { type: "value", axisLabel: { formatter: durations ? duration : (v) => compactFormat.format(v) } },
      series: data.series.map((s) => ({
        name: s.label, type: kind, data: s.data.map(point), stack: data.stacked ? "total" : undefined,
        areaStyle: type === "area" ? {} : undefined, smooth: kind === "line", cursor: "pointer",
        emphasis: { focus: "series" },
      })),
    };
  }

  function sliceOption(type, data) {
    const items = data.items.map((i) => ({ name: i.name, value: num(i.value), drill: i.drill,
                                          fromPrevious: i.from_previous_text || null }));
    if (type === "funnel") {
      // The steps stay in the report's order (a pipeline's stages), whatever their sizes;
      // a step's tooltip says how many of the step before got this far.
      const tip = (p) => `${p.name}: ${numberFormat.format(p.value)}` +
        (p.data.fromPrevious ? ` (${p.data.fromPrevious} of the step before)` : "");
      return { tooltip: { trigger: "item", formatter: tip },
               series: [{ type: "funnel", data: items, sort: "none", left: "4%", width: "62%", minSize: "12%",
                          cursor: "pointer",
                          label: { show: true, formatter: (p) => `${p.name}: ${numberFormat.format(p.value)}` } }] };
    }
    return {
      tooltip: { trigger: "item" },
      legend: { type: "scroll", bottom: 0 },
      // A slice's name sits against the card's edge, wrapping onto more lines rather than
      // running off the card or being cut to "Mis…".
      series: [{ type: "pie", name: data.label, data: items, radius: type === "donut" ? ["35%", "55%"] : "55%",
                 cursor: "pointer", label: { alignTo: "edge", edgeDistance: 4, overflow: "break", lineHeight: 13 },
                 labelLine: { length: 8, length2: 0 } }],
    };
  }

  function gaugeOption(data) {
    return {
      series: [{ type: "gauge", min: num(data.min) || 0, max: num(data.max) || 1, progress: { show: true },
                 detail: { formatter: (v) => numberFormat.format(v), fontSize: 20 },
                 data: [{ value: num(data.value) || 0, name: data.label, drill: data.drill }] }],
    };
  }

  function option(type, data) {
    if (type === "gauge") return gaugeOption(data);
    if (type === "pie" || type === "donut" || type === "funnel") return sliceOption(type, data);
    return seriesOption(type, data);
  }

  function draw(el) {
    const holder = el.nextElementSibling;
    if (!holder || !holder.classList.contains("chart-data")) return;
    const data = JSON.parse(holder.textContent);
    const previous = echarts.getInstanceByDom(el);
    if (previous) previous.dispose();
    const chart = echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(option(el.dataset.chart, data));
    chart.on("click", (params) => {
      const drill = params.data && params.data.drill;
      if (drill) window.location.assign(drill);
    });
    charts.set(el.dataset.widgetId, chart);
    el.dataset.drawn = "1";
  }

  async function drawAll(root) {
    formatNumbers(root);
    const pending = root.querySelectorAll("[data-chart]");
    if (!pending.length) return;
    await ensureECharts();
    for (const [id, chart] of charts) {
      if (!chart.getDom().isConnected) { chart.dispose(); charts.delete(id); }
    }
    pending.forEach(draw);
  }

  document.addEventListener("htmx:afterSettle", (event) => drawAll(event.target));
  window.addEventListener("resize", () => charts.forEach((chart) => chart.resize()));
  window.tesseraDashboards = { drawAll, charts };
  drawAll(document);
})();

(function () {
  const root = document.getElementById("dashboard-builder");
  if (!root || root.dataset.ready) return;
  root.dataset.ready = "1";
  const design = JSON.parse(document.getElementById("dashboard-design").textContent);
  const doc = design.dashboard;
  const reports = Object.fromEntries(design.reports.map((r) => [r.api_name, r]));
  const chartNames = Object.fromEntries(design.charts.map((c) => [c.value, c.label]));
  const grid = document.getElementById("builder-grid");
  const status = document.getElementById("dashboard-status");
  const COLUMNS = 12;
  let version = doc.version;
  const widgets = (doc.widgets || []).map((w) => Object.assign({ x: 0, y: 0, w: 4, h: 3 }, w));

  function token() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? { "X-CSRF-Token": meta.content } : {};
  }

  function place(el, w) {
    el.style.gridColumn = `${w.x + 1} / span ${w.w}`;
    el.style.gridRow = `${w.y + 1} / span ${w.h}`;
    el.dataset.x = w.x; el.dataset.y = w.y; el.dataset.w = w.w; el.dataset.h = w.h;
  }

  function card(w) {
    const el = document.createElement("article");
    el.className = "card widget";
    el.dataset.widget = w.id;
    const source = w.report ? (reports[w.report] ? reports[w.report].label : w.report) : "inline report";
    el.innerHTML = '<header class="widget-head"><h2></h2><button type="button" class="link remove">Remove</button></header>' +
      '<p class="muted"></p><span class="resize-handle" title="Drag to resize" aria-hidden="true"></span>';
    el.querySelector("h2").textContent = w.title || w.id;
    el.querySelector("p").textContent = `${chartNames[w.type] || w.type} · ${source}`;
    el.querySelector(".remove").addEventListener("click", () => {
      widgets.splice(widgets.indexOf(w), 1);
      el.remove();
    });
    place(el, w);
    drag(el, w, el.querySelector(".widget-head"), false);
    drag(el, w, el.querySelector(".resize-handle"), true);
    return el;
  }

  // Pointer drags snap to the grid's cells: the header moves a widget, the corner resizes it.
  function drag(el, w, handle, resizing) {
    handle.addEventListener("pointerdown", (event) => {
      if (event.target.closest(".remove")) return;
      event.preventDefault();
      handle.setPointerCapture(event.pointerId);
      const gap = parseFloat(getComputedStyle(grid).columnGap) || 0;
      const cellW = (grid.clientWidth + gap) / COLUMNS;
      const cellH = (parseFloat(getComputedStyle(grid).gridAutoRows) || 90) + (parseFloat(getComputedStyle(grid).rowGap) || 0);
      const start = { px: event.clientX, py: event.clientY, x: w.x, y: w.y, w: w.w, h: w.h };
      el.classList.add("moving");
      const move = (e) => {
        const dx = Math.round((e.clientX - start.px) / cellW);
        const dy = Math.round((e.clientY - start.py) / cellH);
        if (resizing) {
          w.w = Math.min(Math.max(1, start.w + dx), COLUMNS - w.x);
          w.h = Math.min(Math.max(1, start.h + dy), 24);
        } else {
          w.x = Math.min(Math.max(0, start.x + dx), COLUMNS - w.w);
          w.y = Math.max(0, start.y + dy);
        }
        place(el, w);
      };
      const up = () => {
        el.classList.remove("moving");
        handle.removeEventListener("pointermove", move);
        handle.removeEventListener("pointerup", up);
        handle.removeEventListener("pointercancel", up);
      };
      handle.addEventListener("pointermove", move);
      handle.addEventListener("pointerup", up);
      handle.addEventListener("pointercancel", up);
    });
  }

  widgets.forEach((w) => grid.appendChild(card(w)));

  // Filters as lines: name type field [default]; a field per object as deal:close_date,ticket:opened_on.
  const filtersBox = document.getElementById("d-filters");
  filtersBox.value = (doc.filters || []).map((f) => {
    const field = f.field && typeof f.field === "object"
      ? Object.entries(f.field).map(([o, n]) => `${o}:${n}`).join(",") : (f.field || "-");
    const fallback = f.default === undefined ? "" : (typeof f.default === "object"
      ? `${f.default.from || ""}..${f.default.to || ""}` : String(f.default));
    return [f.name, f.type, field, fallback].join(" ").trim();
  }).join("\n");

  function readFilters() {
    return filtersBox.value.split("\n").map((line) => line.trim()).filter(Boolean).map((line) => {
      const [name, type, field, ...rest] = line.split(/\s+/);
      const out = { name, type };
      if (field && field !== "-") {
        out.field = field.includes(":")
          ? Object.fromEntries(field.split(",").map((pair) => pair.split(":"))) : field;
      }
      const fallback = rest.join(" ");
      if (fallback) out.default = type === "owner" && /^\d+$/.test(fallback) ? Number(fallback) : fallback;
      return out;
    });
  }

  function addWidget() {
    const report = document.getElementById("w-report").value;
    const type = document.getElementById("w-type").value;
    if (!report) { status.textContent = "Make a report first."; status.className = "flash error"; return null; }
    let n = widgets.length + 1;
    while (widgets.some((w) => w.id === `w${n}`)) n += 1;
    const bottom = widgets.reduce((most, w) => Math.max(most, w.y + w.h), 0);
    const w = { id: `w${n}`, title: document.getElementById("w-title").value.trim() || (reports[report] || {}).label || report,
                type, report, x: 0, y: bottom, w: type === "kpi" ? 3 : 6, h: type === "kpi" ? 2 : 4 };
    const options = {};
    const target = document.getElementById("w-target").value.trim();
    if (target && (type === "kpi" || type === "gauge")) options.target = target;
    if (type === "kpi" && document.getElementById("w-compare").checked) options.compare = "previous_period";
    if (Object.keys(options).length) w.options = options;
    widgets.push(w);
    const el = card(w);
    grid.appendChild(el);
    return el;
  }

  document.getElementById("add-widget").addEventListener("click", addWidget);
  // Sent here by the report builder's "Add to a dashboard": the report is on the grid at
  // once (the form beside it already names it and its chart); placing and saving are left.
  if (design.add) {
    document.getElementById("w-title").value = design.add.title;
    const el = addWidget();
    if (el) {
      el.scrollIntoView({ block: "nearest" });
      status.textContent = `${design.add.title} is on the dashboard below: move or resize it, then save the dashboard.`;
      status.className = "flash ok";
    }
    document.getElementById("w-title").value = "";
  }

  document.getElementById("save-dashboard").addEventListener("click", async () => {
    const label = document.getElementById("d-label").value.trim();
    const nameBox = document.getElementById("d-name");
    const name = nameBox.value.trim() || label.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "");
    const body = { label, filters: readFilters(), widgets };
    const isNew = !doc.api_name;
    const response = await fetch(isNew ? "/api/v1/meta/dashboards" : `/api/v1/meta/dashboards/${doc.api_name}`, {
      method: isNew ? "POST" : "PATCH",
      headers: Object.assign({ "Content-Type": "application/json" }, token()),
      body: JSON.stringify(isNew ? Object.assign({ api_name: name }, body) : Object.assign({ version }, body)),
    });
    const answer = await response.json();
    if (response.ok) {
      version = answer.version;
      status.textContent = `Saved (version ${answer.version}).`;
      status.className = "flash ok";
      if (isNew) window.location.assign(`/builder/dashboards/${answer.api_name}`);
    } else {
      status.textContent = `${answer.detail} ` + (answer.errors || []).map((e) => `${e.field}: ${e.message}`).join("; ");
      status.className = "flash error";
    }
  });
})();
