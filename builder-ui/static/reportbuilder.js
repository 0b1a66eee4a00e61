// The report builder. A summary report is made by dragging fields (SortableJS) from the
// palette into rows, columns and values; a funnel by picking the stage field, the stages in
// order (the field's options by default) and what each stage measures; time in stage by the
// same stage field and stages. Every change runs
// the unsaved report on the server (POST /builder/reports/preview), which answers the
// preview as HTML — the table with labels, or the funnel's steps — and Save stores the
// document through the metadata API. Nothing is computed here: the server runs the report
// as the builder.
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
    // Every property either kind of report may have: saving one kind clears the other's.
    const PROPERTIES = ["filter", "group_by", "columns_by", "measures", "type", "field", "stages", "measure", "created"];
    const zones = { rows: document.getElementById("r-rows"), columns: document.getElementById("r-columns"),
                    values: document.getElementById("r-values") };
    const palette = document.getElementById("r-palette");
    const objectBox = document.getElementById("r-object");
    const filterBox = document.getElementById("r-filter");
    const stageField = document.getElementById("r-stage-field");
    const stageList = document.getElementById("r-stages");
    const measureBox = document.getElementById("r-measure");
    const status = document.getElementById("report-status");
    const shown = document.getElementById("r-preview");
    let version = report.version;
    let timer = null;
    let asked = 0;

    const kind = () => (document.querySelector("input[name=r-type]:checked") || {}).value || "summary";
    const fieldsOf = () => objects[objectBox.value].fields;
    const fieldOf = (name) => (fieldsOf().find((f) => f.api_name === name) ||
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
      fieldsOf().forEach((f) => palette.appendChild(chip(f)));
    }

    // -- the funnel: its stage field, the stages in order, the measure ---------------------
    function option(value, label, selected) {
      const el = document.createElement("option");
      el.value = value; el.textContent = label; el.selected = !!selected;
      return el;
    }

    function fillStageFields(chosen) {
      // A select, or a lookup to a small object (sales stages): its records are the stages, by name.
      const selects = fieldsOf().filter((f) => f.type === "select" || (f.type === "lookup" && f.options));
      stageField.replaceChildren(...selects.map((f) => option(f.api_name, f.label, f.api_name === chosen)));
      if (!selects.length) stageField.appendChild(option("", "This object has no field with options", true));
      stageField.disabled = !selects.length;
    }

    // The stages as a list in order: ticked ones are the funnel's steps.
    function fillStages(chosen) {
      const field = fieldOf(stageField.value);
      const options = field.options || [];
      const order = chosen && chosen.length
        ? [...chosen.filter((v) => options.some((o) => o.value === v)),
           ...options.map((o) => o.value).filter((v) => !chosen.includes(v))]
        : options.map((o) => o.value);
      stageList.replaceChildren(...order.map((value) => {
        const o = options.find((x) => x.value === value);
        const item = document.createElement("li");
        item.dataset.stage = value;
        const label = document.createElement("label");
        const tick = document.createElement("input");
        tick.type = "checkbox";
        tick.checked = !chosen || !chosen.length || chosen.includes(value);
        tick.addEventListener("change", schedule);
        label.append(tick, ` ${o.label}`);
        const up = document.createElement("button");
        up.type = "button"; up.className = "link"; up.textContent = "↑";
        up.setAttribute("aria-label", `Move ${o.label} up`);
        up.addEventListener("click", () => { if (item.previousElementSibling) item.after(item.previousElementSibling); schedule(); up.focus(); });
        const down = document.createElement("button");
        down.type = "button"; down.className = "link"; down.textContent = "↓";
        down.setAttribute("aria-label", `Move ${o.label} down`);
        down.addEventListener("click", () => { if (item.nextElementSibling) item.before(item.nextElementSibling); schedule(); down.focus(); });
        item.append(label, up, down);
        return item;
      }));
    }

    function fillMeasures(chosen) {
      const numbers = fieldsOf().filter((f) => f.number);
      const wanted = chosen && chosen.function === "sum" ? `sum:${chosen.field}` : "count";
      measureBox.replaceChildren(option("count", "Number of records", wanted === "count"),
        ...numbers.map((f) => option(`sum:${f.api_name}`, `Sum of ${f.label}`, wanted === `sum:${f.api_name}`)));
    }

    function fillFunnel(spec) {
      spec = spec || {};
      fillStageFields(spec.field);
      fillStages(spec.stages);
      fillMeasures(spec.measure);
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
      fillFunnel(report.type === "funnel" || report.type === "time_in_stage" ? report : {});
    }

    // A funnel, or time in stage: the same stage field, stages and created range.
    function funnelNow(doc) {
      doc.type = kind();
      doc.field = stageField.value;
      const options = (fieldOf(stageField.value).options || []).map((o) => o.value);
      const items = [...stageList.querySelectorAll("li")];
      const stages = items.filter((li) => li.querySelector("input").checked).map((li) => li.dataset.stage);
      // All of the options in their own order is the default: left out, so that an option
      // added to the field later becomes a stage too.
      if (stages.join("\u0000") !== options.join("\u0000")) doc.stages = stages;
      if (doc.type === "funnel" && measureBox.value.startsWith("sum:")) doc.measure = { function: "sum", field: measureBox.value.slice(4) };
      const from = document.getElementById("r-created-from").value;
      const to = document.getElementById("r-created-to").value;
      if (from || to) doc.created = Object.assign(from ? { from } : {}, to ? { to } : {});
      return doc;
    }

    function documentNow() {
      const doc = { object: objectBox.value };
      const filter = filterBox.value.trim();
      if (filter) doc.filter = filter;
      if (kind() !== "summary") return funnelNow(doc);
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

    // Where a problem at a JSON pointer of the report document is, in the page's words.
    const PLACES = { label: "Label", api_name: "Name", filter: "Filter", group_by: "Rows", columns_by: "Columns",
                     measures: "Values", field: "Stage field", stages: "Stages", measure: "Measure",
                     created: "Created", object: "Object" };
    function problems(answer) {
      return `${answer.detail || ""} ` + (answer.errors || []).map((e) => {
        const place = PLACES[String(e.field || "").replace(/^\//, "").split("/")[0]];
        return place ? `${place}: ${e.message}` : e.message;
      }).join("; ");
    }

    // Percentages come written by the server in the house style (tessera.meta.percents).
    const numberFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 4 });
    function formatNumbers(area) {
      area.querySelectorAll("[data-number]").forEach((el) => {
        if (el.dataset.number !== "" && !Number.isNaN(Number(el.dataset.number))) el.textContent = numberFormat.format(Number(el.dataset.number));
      });
    }

    function empty() {
      const doc = documentNow();
      return kind() === "summary" && !doc.group_by && !doc.columns_by && !doc.measures;
    }

    async function preview() {
      if (empty()) {
        shown.innerHTML = '<p class="muted">Drag fields in to see the report.</p>';
        return;
      }
      if (kind() !== "summary" && !stageField.value) {
        shown.innerHTML = '<p class="muted">Pick the stage field to see the funnel.</p>';
        return;
      }
      const mine = ++asked;
      const response = await fetch("/builder/reports/preview", {
        method: "POST", headers: Object.assign({ "Content-Type": "application/json" }, token()),
        body: JSON.stringify(documentNow()),
      });
      if (mine !== asked) return;  // a later change has asked again
      shown.innerHTML = await response.text();
      formatNumbers(shown);
      const rows = shown.querySelectorAll("#r-result tbody tr").length;
      shown.dataset.rows = String(rows);
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
      fillFunnel({});
      filterBox.dataset.formulaObject = objectBox.value;  // the filter's suggestions follow
      schedule();
    });
    document.querySelectorAll("input[name=r-type]").forEach((radio) => radio.addEventListener("change", () => {
      root.dataset.type = kind();
      schedule();
    }));
    stageField.addEventListener("change", () => { fillStages(null); schedule(); });
    measureBox.addEventListener("change", schedule);
    document.getElementById("r-created-from").addEventListener("change", schedule);
    document.getElementById("r-created-to").addEventListener("change", schedule);
    filterBox.addEventListener("change", schedule);

    document.getElementById("save-report").addEventListener("click", async () => {
      const label = document.getElementById("r-label").value.trim();
      const nameBox = document.getElementById("r-name");
      const name = nameBox.value.trim() || label.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "");
      const doc = Object.assign({ label }, documentNow());
      const isNew = !report.api_name;
      if (!isNew) {
        // What the report no longer has is a change too (null removes a property).
        for (const key of PROPERTIES) if (!(key in doc)) doc[key] = null;
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
    if (report.api_name || kind() !== "summary") schedule();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
