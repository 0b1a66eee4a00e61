// The form designer: fields dragged from the palette into columns (SortableJS), placement
// properties edited in the side panel with the server checking formulas as they are typed,
// and the layout saved as the form document the API and the engines read.
(function () {
  const designer = document.getElementById("designer");
  if (!designer) return;
  const object = designer.dataset.object;
  let selected = null;

  function sortable(zone) {
    Sortable.create(zone, { group: "fields", animation: 120, forceFallback: true });
  }

  function select(placement) {
    document.querySelectorAll("#canvas .placement.selected").forEach((p) => p.classList.remove("selected"));
    selected = placement;
    placement.classList.add("selected");
    document.getElementById("no-selection").hidden = true;
    document.getElementById("property-form").hidden = false;
    document.getElementById("selected-field").textContent = placement.dataset.field;
    document.querySelectorAll("#property-form [data-prop]").forEach((input) => {
      const value = placement.dataset[input.dataset.prop] || "";
      if (input.type === "checkbox") input.checked = value === "1";
      else input.value = value;
    });
  }

  designer.addEventListener("click", (event) => {
    const placement = event.target.closest("#canvas .placement");
    if (placement) select(placement);
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
    const columns = button.parentElement.querySelector(".columns");
    if (columns.children.length >= 4) return;
    const zone = document.createElement("div");
    zone.className = "drop";
    zone.dataset.column = "";
    columns.appendChild(zone);
    columns.style.gridTemplateColumns = `repeat(${columns.children.length}, minmax(0, 1fr))`;
    sortable(zone);
  };

  window.tesseraAddSection = function () {
    const section = document.createElement("div");
    section.className = "card section";
    section.dataset.section = "";
    section.style.marginBottom = ".75rem";
    section.innerHTML = '<input class="section-label" placeholder="Section title" aria-label="Section title">' +
      '<div class="columns" style="display:grid;grid-template-columns:repeat(1,minmax(0,1fr));gap:.5rem;margin-top:.5rem">' +
      '<div class="drop" data-column></div></div><button type="button" data-add-column>Add column</button>';
    document.getElementById("canvas").insertBefore(section, document.getElementById("add-section"));
    sortable(section.querySelector("[data-column]"));
  };

  window.tesseraSaveForm = async function () {
    const sections = [...document.querySelectorAll("#canvas [data-section]")].map((section) => {
      const out = {
        columns: [...section.querySelectorAll("[data-column]")].map((column) => ({
          fields: [...column.querySelectorAll(".placement")].map((p) => {
            const placement = { field: p.dataset.field };
            for (const key of ["label", "help", "visible_if", "required_if"]) {
              if (p.dataset[key]) placement[key] = p.dataset[key];
            }
            if (p.dataset.read_only === "1") placement.read_only = true;
            if (p.dataset.required === "1") placement.required = true;
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
    const status = document.getElementById("designer-status");
    if (response.ok) {
      status.textContent = `Saved (version ${answer.version}).`;
      status.className = "flash ok";
    } else {
      status.textContent = answer.detail + " " + (answer.errors || []).map((e) => `${e.field}: ${e.message}`).join("; ");
      status.className = "flash error";
    }
  };

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("#designer .drop").forEach(sortable);
    document.getElementById("save-form")?.addEventListener("click", () => window.tesseraSaveForm());
    document.getElementById("add-section")?.addEventListener("click", () => window.tesseraAddSection());
  });
  // Sections added later have their own button: one listener for all of them.
  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest("[data-add-column]") : null;
    if (button) window.tesseraAddColumn(button);
  });
})();
