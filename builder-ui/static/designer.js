// The form designer: fields dragged from the palette into columns (SortableJS), placement
// properties edited in the side panel with the server checking formulas as they are typed,
// and the layout saved as the form document the API and the engines read. A Line items field
// takes the full width of its section, and its panel chooses the child's fields shown as the
// grid's columns, in order (kept on the placement as data-columns, saved as its `columns`).
(function () {
  const designer = document.getElementById("designer");
  if (!designer) return;
  const object = designer.dataset.object;
  const lineChoices = JSON.parse(document.getElementById("line-choices")?.textContent || "{}");
  let selected = null;

  function say(text, kind) {
    const status = document.getElementById("designer-status");
    status.textContent = text;
    status.className = kind ? `flash ${kind}` : "muted";
  }

  function sortable(zone) {
    Sortable.create(zone, { group: "fields", animation: 120, forceFallback: true, onAdd: (event) => fullWidth(event.item) });
  }

  function columnsOf(section) {
    return section.querySelectorAll("[data-column]").length;
  }

  function holdsLines(section) {
    return section.querySelector(".placement[data-lines]") !== null;
  }

  // Line items dropped beside other columns get a section of their own, right below.
  function fullWidth(item) {
    if (!item.dataset.lines) return;
    summarise(item);
    const section = item.closest("[data-section]");
    if (!section || columnsOf(section) < 2) return;
    const own = window.tesseraAddSection(section.nextElementSibling);
    own.querySelector("[data-column]").appendChild(item);
    say(`${labelOf(item)} takes the full width of a section: it got a section of its own.`, "ok");
  }

  function labelOf(placement) {
    return placement.querySelector(".placement-label")?.textContent.trim() || placement.dataset.field;
  }

  // -- a Line items field's columns ---------------------------------------------------
  function chosenColumns(placement) {
    const choice = lineChoices[placement.dataset.field];
    if (!choice) return [];
    const known = new Set(choice.fields.map((f) => f.api_name));
    const own = (placement.dataset.columns || "").split(",").filter((name) => known.has(name));
    return own.length ? own : choice.default.filter((name) => known.has(name));
  }

  function summarise(placement) {
    const choice = lineChoices[placement.dataset.field];
    if (!choice) return;
    const labels = Object.fromEntries(choice.fields.map((f) => [f.api_name, f.label]));
    let summary = placement.querySelector("[data-line-columns]");
    if (!summary) {
      summary = document.createElement("span");
      summary.className = "muted line-columns";
      summary.dataset.lineColumns = "";
      placement.appendChild(summary);
    }
    summary.textContent = "Columns: " + chosenColumns(placement).map((name) => labels[name]).join(", ");
  }

  function showColumns(placement) {
    const block = document.getElementById("line-columns");
    const choice = placement.dataset.lines ? lineChoices[placement.dataset.field] : null;
    block.hidden = !choice;
    if (!choice) return;
    const list = document.getElementById("line-column-choices");
    const chosen = chosenColumns(placement);
    const rest = choice.fields.filter((f) => !chosen.includes(f.api_name));
    const byName = Object.fromEntries(choice.fields.map((f) => [f.api_name, f]));
    list.replaceChildren(...[...chosen.map((name) => byName[name]), ...rest].map((f) => {
      const row = document.createElement("li");
      row.dataset.orderItem = "";
      row.dataset.name = f.api_name;
      const handle = document.createElement("span");
      handle.className = "drag-handle";
      handle.setAttribute("aria-hidden", "true");
      handle.textContent = "⠿";
      const label = document.createElement("label");
      label.className = "check";
      const box = document.createElement("input");
      box.type = "checkbox";
      box.checked = chosen.includes(f.api_name);
      label.append(box, " " + f.label);
      const tools = document.createElement("span");
      tools.className = "order-tools";
      for (const [step, arrow, word] of [[-1, "↑", "up"], [1, "↓", "down"]]) {
        const button = document.createElement("button");
        button.type = "button";
        button.dataset.orderMove = String(step);
        button.setAttribute("aria-label", `Move ${f.label} ${word}`);
        button.textContent = arrow;
        tools.appendChild(button);
      }
      row.append(handle, label, tools);
      return row;
    }));
    if (!choice.fields.length) {
      const empty = document.createElement("li");
      empty.className = "muted";
      empty.textContent = `${choice.label} has no fields yet: add some to it first.`;
      list.appendChild(empty);
    }
  }

  // The ticked rows, in their order, become the placement's columns.
  function takeColumns() {
    if (!selected || !selected.dataset.lines) return;
    const names = [...document.querySelectorAll("#line-column-choices [data-order-item]")]
      .filter((row) => row.querySelector("input").checked).map((row) => row.dataset.name);
    if (names.length) selected.dataset.columns = names.join(",");
    else delete selected.dataset.columns;
    summarise(selected);
  }

  const columnList = document.getElementById("line-column-choices");
  columnList?.addEventListener("change", takeColumns);
  // tessera.js moves the row on ↑/↓ first (its listener is on the document); then take the order.
  columnList?.addEventListener("click", (event) => {
    if (event.target instanceof Element && event.target.closest("[data-order-move]")) setTimeout(takeColumns);
  });

  function select(placement) {
    document.querySelectorAll("#canvas .placement.selected").forEach((p) => p.classList.remove("selected"));
    selected = placement;
    placement.classList.add("selected");
    document.getElementById("no-selection").hidden = true;
    document.getElementById("property-form").hidden = false;
    document.getElementById("selected-field").textContent = labelOf(placement);
    document.querySelectorAll("#property-form [data-prop]").forEach((input) => {
      const value = placement.dataset[input.dataset.prop] || "";
      if (input.type === "checkbox") input.checked = value === "1";
      else input.value = value;
    });
    showColumns(placement);
    // On a phone the panel is below the form: bring it to the builder.
    if (window.matchMedia("(max-width: 800px)").matches) {
      document.getElementById("properties").scrollIntoView({ block: "start" });
    }
  }

  designer.addEventListener("click", (event) => {
    const placement = event.target.closest("#canvas .placement");
    if (placement) select(placement);
  });
  designer.addEventListener("keydown", (event) => {
    const placement = event.target.closest("#canvas .placement");
    if (placement && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      select(placement);
    }
  });

  document.querySelectorAll("#property-form [data-prop]").forEach((input) => {
    input.addEventListener("input", async () => {
      if (!selected) return;
      const prop = input.dataset.prop;
      const value = input.type === "checkbox" ? (input.checked ? "1" : "") : input.value;
      if (value) selected.dataset[prop] = value;
      else delete selected.dataset[prop];
      if (input.dataset.formula !== undefined) {
        const out = document.getElementById("check-" + prop);
        out.textContent = value ? await window.tesseraCheck(object, value, "boolean") : "";
      }
    });
  });

  window.tesseraAddColumn = function (button) {
    const section = button.closest("[data-section]");
    const columns = section.querySelector(".columns");
    if (columns.children.length >= 4) return;
    if (holdsLines(section)) {
      say("Line items take the full width of their section: add the column in another section.", "error");
      return;
    }
    const zone = document.createElement("div");
    zone.className = "drop";
    zone.dataset.column = "";
    columns.appendChild(zone);
    columns.style.gridTemplateColumns = `repeat(${columns.children.length}, minmax(0, 1fr))`;
    sortable(zone);
  };

  // A new empty section, before `before` (else at the end); returns it.
  window.tesseraAddSection = function (before) {
    const section = document.createElement("div");
    section.className = "card section";
    section.dataset.section = "";
    section.style.marginBottom = ".75rem";
    section.innerHTML = '<input class="section-label" placeholder="Section title" aria-label="Section title">' +
      '<div class="columns" style="display:grid;grid-template-columns:repeat(1,minmax(0,1fr));gap:.5rem;margin-top:.5rem">' +
      '<div class="drop" data-column></div></div><button type="button" data-add-column>Add column</button>';
    const canvas = document.getElementById("canvas");
    const anchor = before instanceof Element && before.parentElement === canvas ? before : document.getElementById("add-section");
    canvas.insertBefore(section, anchor);
    sortable(section.querySelector("[data-column]"));
    return section;
  };

  window.tesseraSaveForm = async function () {
    // A section left with no field and no title (its fields moved elsewhere) is dropped.
    const kept = [...document.querySelectorAll("#canvas [data-section]")].filter((section) =>
      section.querySelector(".placement") || section.querySelector(".section-label").value.trim());
    const sections = kept.map((section) => {
      const out = {
        columns: [...section.querySelectorAll("[data-column]")].map((column) => ({
          fields: [...column.querySelectorAll(".placement")].map((p) => {
            const placement = { field: p.dataset.field };
            for (const key of ["label", "help", "visible_if", "required_if"]) {
              if (p.dataset[key]) placement[key] = p.dataset[key];
            }
            if (p.dataset.read_only === "1") placement.read_only = true;
            if (p.dataset.required === "1") placement.required = true;
            if (p.dataset.lines && p.dataset.columns) placement.columns = p.dataset.columns.split(",");
            return placement;
          }),
        })),
      };
      const label = section.querySelector(".section-label").value.trim();
      if (label) out.label = label;
      return out;
    });
    const body = { api_name: designer.dataset.form, label: designer.dataset.label, object, sections };
    const token = document.querySelector('meta[name="csrf-token"]');
    const response = await fetch(`/builder/objects/${object}/form`, {
      method: "POST",
      headers: Object.assign({ "Content-Type": "application/json" }, token ? { "X-CSRF-Token": token.content } : {}),
      body: JSON.stringify(body),
    });
    const answer = await response.json();
    document.querySelectorAll("#canvas .placement.has-error").forEach((p) => p.classList.remove("has-error"));
    if (response.ok) {
      say(`Saved (version ${answer.version}).`, "ok");
    } else {
      say(answer.detail + " " + (answer.errors || []).map((e) => `${placeOf(kept, e.field)}: ${e.message}`).join("; "), "error");
    }
  };

  // A problem's path (/sections/1/columns/0/fields/0/columns/2) as the field it is about,
  // which is marked on the canvas; a path elsewhere is kept as it is.
  function placeOf(sections, path) {
    const found = /^\/sections\/(\d+)\/columns\/(\d+)\/fields\/(\d+)/.exec(path || "");
    const column = found && sections[Number(found[1])]?.querySelectorAll("[data-column]")[Number(found[2])];
    const placement = column?.querySelectorAll(".placement")[Number(found[3])];
    if (!placement) return path;
    placement.classList.add("has-error");
    return labelOf(placement);
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("#designer .drop").forEach(sortable);
    if (columnList) Sortable.create(columnList, { handle: ".drag-handle", animation: 120, forceFallback: true, onEnd: takeColumns });
    document.querySelectorAll("#canvas .placement[data-lines]").forEach(summarise);
    document.getElementById("save-form")?.addEventListener("click", () => window.tesseraSaveForm());
    document.getElementById("add-section")?.addEventListener("click", () => window.tesseraAddSection());
  });
  // Sections added later have their own button: one listener for all of them.
  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest("[data-add-column]") : null;
    if (button) window.tesseraAddColumn(button);
  });
})();
