// The report builder: fields dragged (SortableJS) from the palette into rows, columns and
// values make a report document; every change runs it unsaved on the server
// (POST /api/v1/reports/run) for the preview, and Save stores it through the metadata API.
// Nothing is computed here: the server runs the report as the builder.
(function () {
  function start() {
    const root = document.getElementById("report-builder");
    if (!root || root.dataset.ready) return;
    root.dataset.ready = "1";
    const design = JSON.parse(document.getElementById("report-design").textContent);
    const report = design.report;
    const objects = Object.fromEntries(design.objects.map((o) => [o.api_name, o]));
    const NUMERIC = ["integer", "decimal", "currency", "percent", "rating", "duration", "rollup", "formula"];
    const DATES = ["date", "datetime"];
    const FUNCTIONS = ["count", "sum", "avg", "min", "max", "count_distinct", "median"];
    const BUCKETS = ["", "day", "week", "month", "quarter", "year"];
    const zones = { rows: document.getElementById("r-rows"), columns: document.getElementById("r-columns"),
                    values: document.getElementById("r-values") };
    const palette = document.getElementById("r-palette");
    const objectBox = document.getElementById("r-object");
    const status = document.getElementById("report-status");
    let version = report.version;
    let timer = null;

    const fieldOf = (name) => (objects[objectBox.value].fields.find((f) => f.api_name === name) ||
                               { api_name: name, label: name, type: "text" });

    function select(options, value, label) {
      const box = document.createElement("select");
      box.setAttribute("aria-label", label);
      options.forEach((o) => {
        const option = document.createElement("option");
        option.value = o; option.textContent = o ? o.replace("_", " ") : "as is";
        if (o === value) option.selected = true;
        box.appendChild(option);
      });
      box.addEventListener("change", schedule);
      return box;
    }

    function chip(field) {
      const el = document.createElement("div");
      el.className = "chip";
      el.dataset.field = field.api_name;
      el.dataset.type = field.type;
      const name = document.createElement("span");
      name.textContent = field.label;
      el.appendChild(name);
      return el;
    }

    // A chip dropped in a zone gets that zone's settings: a date bucket in rows and columns,
    // a function in values, and a button to take it out again.
    function dress(el, zone, spec) {
      el.querySelectorAll("select, .remove").forEach((x) => x.remove());
      spec = spec || {};
      const type = el.dataset.type;
      if (zone === "values") {
        const fallback = el.dataset.field === "" ? "count" : NUMERIC.includes(type) ? "sum" : "count";
        const allowed = el.dataset.field === "" ? ["count"] : FUNCTIONS;
        el.appendChild(select(allowed, spec.function || fallback, "Function"));
      } else if ((zone === "rows" || zone === "columns") && DATES.includes(type)) {
        el.appendChild(select(BUCKETS, spec.bucket === undefined ? "month" : spec.bucket || "", "Bucket"));
      }
      if (zone !== "palette") {
        const remove = document.createElement("button");
        remove.type = "button"; remove.className = "link remove"; remove.textContent = "✕";
        remove.setAttribute("aria-label", "Remove");
        remove.addEventListener("click", () => { el.remove(); schedule(); });
        el.appendChild(remove);
      }
    }

    function fillPalette() {
      palette.innerHTML = "";
      const records = chip({ api_name: "", label: "Records (count)", type: "records" });
      palette.appendChild(records);
      objects[objectBox.value].fields.forEach((f) => palette.appendChild(chip(f)));
    }

    function load() {
      fillPalette();
      (report.group_by || []).forEach((g) => {
        const el = chip(fieldOf(g.field)); zones.rows.appendChild(el); dress(el, "rows", g);
      });
      if (report.columns_by) {
        const el = chip(fieldOf(report.columns_by.field)); zones.columns.appendChild(el);
        dress(el, "columns", report.columns_by);
      }
      (report.measures || []).forEach((m) => {
        const el = chip(m.field ? fieldOf(m.field) : { api_name: "", label: "Records (count)", type: "records" });
        zones.values.appendChild(el); dress(el, "values", m);
      });
    }

    function documentNow() {
      const doc = { object: objectBox.value };
      const filter = document.getElementById("r-filter").value.trim();
      if (filter) doc.filter = filter;
      const grouping = (el) => {
        const out = { field: el.dataset.field };
        const bucket = el.querySelector("select[aria-label=Bucket]");
        if (bucket && bucket.value) out.bucket = bucket.value;
        const label = el.querySelector("span").textContent;
        out.label = bucket && bucket.value ? `${label} (${bucket.value})` : label;
        return out;
      };
      const rows = [...zones.rows.querySelectorAll(".chip")].filter((el) => el.dataset.field);
      if (rows.length) doc.group_by = rows.map(grouping);
      const column = [...zones.columns.querySelectorAll(".chip")].find((el) => el.dataset.field);
      if (column) doc.columns_by = grouping(column);
      const used = new Set();
      const measures = [...zones.values.querySelectorAll(".chip")].map((el) => {
        const fn = el.querySelector("select[aria-label=Function]").value;
        let name = el.dataset.field ? `${fn}_${el.dataset.field}` : "records";
        while (used.has(name)) name += "_2";
        used.add(name);
        const label = el.dataset.field ? `${fn.replace("_", " ")} of ${el.querySelector("span").textContent}` : "Records";
        const out = { name, label: label.charAt(0).toUpperCase() + label.slice(1), function: fn };
        if (el.dataset.field) out.field = el.dataset.field;
        return out;
      });
      if (measures.length) doc.measures = measures;
      return doc;
    }

    function token() {
      const meta = document.querySelector('meta[name="csrf-token"]');
      return meta ? { "X-CSRF-Token": meta.content } : {};
    }

    function problems(answer) {
      return `${answer.detail || ""} ` + (answer.errors || []).map((e) => `${e.field}: ${e.message}`).join("; ");
    }

    const fmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 4 });
    function cell(value, kind) {
      if (value === null || value === undefined) return "";
      return kind === "measure" && value !== "" && !Number.isNaN(Number(value)) ? fmt.format(Number(value)) : String(value);
    }

    function table(result) {
      const out = document.createElement("table");
      out.className = "records";
      out.id = "r-result";
      const head = out.createTHead().insertRow();
      result.columns.forEach((c) => { const th = document.createElement("th"); th.textContent = c.label; head.appendChild(th); });
      const body = out.createTBody();
      result.rows.forEach((r) => {
        const tr = body.insertRow();
        result.columns.forEach((c) => { tr.insertCell().textContent = cell(r[c.name], c.kind); });
      });
      if (result.totals && result.columns.some((c) => c.kind === "grouping")) {
        const tr = out.createTFoot().insertRow();
        result.columns.forEach((c, i) => {
          const th = document.createElement("th");
          th.textContent = c.kind === "measure" ? cell(result.totals[c.name], "measure") : i === 0 ? "Total" : "";
          tr.appendChild(th);
        });
      }
      return out;
    }

    async function preview() {
      const shown = document.getElementById("r-preview");
      const message = document.getElementById("r-problems");
      const response = await fetch("/api/v1/reports/run", {
        method: "POST", headers: Object.assign({ "Content-Type": "application/json" }, token()),
        body: JSON.stringify(documentNow()),
      });
      const answer = await response.json();
      if (!response.ok) { message.textContent = problems(answer); return; }
      message.textContent = "";
      shown.replaceChildren(table(answer));
      shown.dataset.rows = String(answer.rows.length);
    }

    function schedule() {
      clearTimeout(timer);
      timer = setTimeout(preview, 250);
    }

    Sortable.create(palette, { group: { name: "fields", pull: "clone", put: false }, sort: false, animation: 120,
                               forceFallback: true });
    for (const [zone, el] of Object.entries(zones)) {
      Sortable.create(el, {
        group: { name: "fields", pull: true, put: zone === "columns" ? () => el.children.length < 1 : true },
        animation: 120, forceFallback: true,
        onAdd: (event) => { dress(event.item, zone); schedule(); },
        onUpdate: schedule, onRemove: schedule,
      });
    }

    objectBox.addEventListener("change", () => {
      Object.values(zones).forEach((z) => { z.innerHTML = ""; });
      fillPalette();
      document.getElementById("r-preview").innerHTML = '<p class="muted">Drag fields in to see the report.</p>';
    });
    document.getElementById("r-filter").addEventListener("change", schedule);

    document.getElementById("save-report").addEventListener("click", async () => {
      const label = document.getElementById("r-label").value.trim();
      const nameBox = document.getElementById("r-name");
      const name = nameBox.value.trim() || label.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "");
      const doc = Object.assign({ label }, documentNow());
      const isNew = !report.api_name;
      if (!isNew) {
        // Removing groupings, columns or a filter is a change too (null removes a property).
        for (const key of ["filter", "group_by", "columns_by", "measures"]) if (!(key in doc)) doc[key] = null;
        doc.version = version;
      }
      const response = await fetch(isNew ? "/api/v1/meta/reports" : `/api/v1/meta/reports/${report.api_name}`, {
        method: isNew ? "POST" : "PATCH",
        headers: Object.assign({ "Content-Type": "application/json" }, token()),
        body: JSON.stringify(isNew ? Object.assign({ api_name: name }, doc) : doc),
      });
      const answer = await response.json();
      if (response.ok) {
        version = answer.version;
        status.textContent = `Saved (version ${answer.version}).`;
        status.className = "flash ok";
        if (isNew) window.location.assign(`/builder/reports/${answer.api_name}`);
      } else {
        status.textContent = problems(answer);
        status.className = "flash error";
      }
    });

    load();
    if ((report.group_by || []).length || (report.measures || []).length) schedule();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
