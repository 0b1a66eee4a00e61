// Tessera's page script: hands the CSRF token to htmx and keeps kanban drags honest.
// Nothing here evaluates a formula: the server says what is visible and required.
// A refused change (422, 409, 412) comes back as the page with the messages beside the
// fields: show it, as a plain form post would.
document.addEventListener("DOMContentLoaded", () => {
  if (!window.htmx) return;
  htmx.config.responseHandling = [
    { code: "204", swap: false },
    { code: "[23]..", swap: true },
    { code: "4..", swap: true, error: false },
    { code: "...", swap: false, error: true },
  ];
});

// Small behaviours pages ask for with data attributes (no inline handlers: the pages'
// Content-Security-Policy runs no script written into the markup).
document.addEventListener("change", (event) => {
  const target = event.target;
  if (!(target instanceof HTMLElement)) return;
  if (target.matches("[data-submit-on-change]") && target.form) target.form.submit();
  if (target.matches("select[data-view-base]")) {
    location.href = target.dataset.viewBase + (target.value ? "?view=" + encodeURIComponent(target.value) : "");
  }
  if (target.matches("input[data-select-all]")) {
    document.querySelectorAll(target.dataset.selectAll).forEach((box) => { box.checked = target.checked; });
  }
});

// A boosted link or form is a navigation: it replaces the whole page, whatever hx-target,
// hx-swap or hx-include an element around it (the bulk-action form around a list's rows)
// sets for its own requests. htmx would otherwise let the link inherit them.
document.addEventListener("htmx:configRequest", (event) => {
  if (!event.detail.boosted) return;
  delete event.detail.headers["HX-Target"];
  if (event.detail.elt instanceof HTMLAnchorElement) event.detail.parameters = {};
});
document.addEventListener("htmx:beforeSwap", (event) => {
  if (!event.detail.boosted) return;
  event.detail.target = document.body;
  event.detail.swapOverride = "innerHTML";
  // A boosted navigation swaps the body only; the session's CSRF token lives in the head,
  // and must follow the page (signing in gives one, signing out takes it away).
  const found = /<meta name="csrf-token" content="([^"]*)">/.exec(event.detail.serverResponse || "");
  let meta = document.querySelector('meta[name="csrf-token"]');
  if (found && !meta) {
    meta = document.createElement("meta");
    meta.name = "csrf-token";
    document.head.appendChild(meta);
  }
  if (found) meta.content = found[1];
  else if (meta) meta.remove();
});

document.addEventListener("htmx:configRequest", (event) => {
  const token = document.querySelector('meta[name="csrf-token"]');
  if (token) event.detail.headers["X-CSRF-Token"] = token.content;
});

function tesseraKanban(root) {
  // Dragging a card posts the new stage; a refused move puts the card back with the reason.
  if (root.dataset.kanbanReady) return;  // once, whether the page was loaded or swapped in
  root.dataset.kanbanReady = "1";
  const recount = (cards, by) => {
    const count = cards.closest("section")?.querySelector("[data-count]");
    if (count && /^\d+$/.test(count.textContent.trim())) count.textContent = String(Number(count.textContent) + by);
  };
  root.querySelectorAll(".cards").forEach((list) => {
    Sortable.create(list, {
      group: "kanban",
      animation: 120,
      forceFallback: true,  // mouse events rather than HTML5 drag and drop: same on touch screens
      onAdd: async (event) => {
        const card = event.item;
        const from = event.from;
        const token = document.querySelector('meta[name="csrf-token"]');
        const body = new URLSearchParams({ value: list.dataset.value, version: card.dataset.version });
        const response = await fetch(card.dataset.moveUrl, {
          method: "POST", body, headers: token ? { "X-CSRF-Token": token.content } : {},
        });
        const answer = await response.json();
        const message = card.querySelector(".refusal");
        if (response.ok) {
          card.dataset.version = answer.version;
          card.classList.remove("refused");
          if (message) message.textContent = "";
          // The lanes' counts follow the card: one less where it was, one more where it is.
          recount(from, -1);
          recount(list, 1);
        } else {
          from.insertBefore(card, from.children[event.oldIndex] || null);
          card.classList.add("refused");
          if (message) message.textContent = answer.detail || "The move was refused.";
        }
      },
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-kanban]").forEach(tesseraKanban);
});
// A board reached by a boosted link (the list's "Board") is swapped in, not loaded.
document.addEventListener("htmx:load", (event) => {
  const elt = event.detail && event.detail.elt;
  if (!elt || !elt.querySelectorAll) return;
  if (elt.matches && elt.matches("[data-kanban]")) tesseraKanban(elt);
  elt.querySelectorAll("[data-kanban]").forEach(tesseraKanban);
});

// The sign-in form tells the server the browser's time zone: times are shown in it until
// the person chooses another one in their settings.
function tesseraBrowserZone(root) {
  const zone = (Intl.DateTimeFormat().resolvedOptions() || {}).timeZone || "";
  root.querySelectorAll("input[data-browser-time-zone]").forEach((input) => { input.value = zone; });
}
document.addEventListener("DOMContentLoaded", () => tesseraBrowserZone(document));
document.addEventListener("htmx:load", (event) => tesseraBrowserZone(event.detail.elt));

// The formula editor's live check: the server type-checks, the page shows the answer.
async function tesseraCheck(object, expression, expect) {
  const token = document.querySelector('meta[name="csrf-token"]');
  const response = await fetch("/api/v1/formula/check", {
    method: "POST",
    headers: Object.assign({ "Content-Type": "application/json" }, token ? { "X-CSRF-Token": token.content } : {}),
    body: JSON.stringify({ object, expression, expect: expect || null }),
  });
  if (!response.ok) return "";
  const answer = await response.json();
  return answer.valid ? `✓ ${answer.type}` : answer.errors.map((e) => e.message).join("\n");
}
window.tesseraCheck = tesseraCheck;

// A form's conditional logic: the server answers which fields are visible and required
// for the values typed so far; the page only shows what it was told.
document.addEventListener("htmx:afterRequest", (event) => {
  const trigger = event.detail.elt;
  if (!trigger.matches || !trigger.matches("[data-form-state]") || !event.detail.successful) return;
  let answer;
  try { answer = JSON.parse(event.detail.xhr.responseText); } catch { return; }
  const form = trigger.closest("form");
  for (const [name, state] of Object.entries(answer.fields || {})) {
    const box = form.querySelector(`[data-field="${CSS.escape(name)}"]`);
    if (!box) continue;
    box.hidden = !state.visible;
    box.classList.toggle("is-required", !!state.required);
    const label = box.querySelector(".field-label");
    if (label) {
      let mark = label.querySelector(".required-mark");
      if (state.required && !mark) {
        mark = document.createElement("span");
        mark.className = "required-mark";
        mark.setAttribute("aria-hidden", "true");
        mark.textContent = "*";
        label.appendChild(mark);
      } else if (!state.required && mark) {
        mark.remove();
      }
    }
  }
  // A section shows while one of its fields does.
  form.querySelectorAll("fieldset[data-section]").forEach((section) => {
    const placed = [...section.querySelectorAll(".form-column > *")];
    section.hidden = placed.length > 0 && placed.every((widget) => widget.hidden);
  });
});

// -- Ordered lists: a row's ↑ and ↓ (data-order-move on a button inside a data-order-item)
// change its place; the form sends the rows in their order (a list's Columns, an app's objects).
document.addEventListener("click", (event) => {
  const closing = event.target instanceof Element ? event.target.closest("[data-close-picker]") : null;
  if (closing) closing.closest("details").open = false;
  const move = event.target instanceof Element ? event.target.closest("[data-order-move]") : null;
  if (!move) return;
  const item = move.closest("[data-order-item]");
  const up = Number(move.dataset.orderMove) < 0;
  const sibling = up ? item.previousElementSibling : item.nextElementSibling;
  if (!sibling) return;
  if (up) item.parentElement.insertBefore(item, sibling);
  else item.parentElement.insertBefore(sibling, item);
  move.focus();
});

// -- A list's Columns control (#17 column picker): the ticked boxes are sent in their order.
function tesseraColumnChoices(root) {
  if (!window.Sortable) return;
  root.querySelectorAll("[data-column-choices]").forEach((list) => {
    if (list.dataset.sortable) return;
    list.dataset.sortable = "1";
    Sortable.create(list, { handle: ".drag-handle", animation: 120, forceFallback: true });
  });
}
document.addEventListener("DOMContentLoaded", () => tesseraColumnChoices(document));
document.addEventListener("htmx:load", (event) => tesseraColumnChoices(event.detail.elt));

// -- Percentages in the house style the server writes (tessera.meta.percents): rounded to
// `places`, trailing zeros dropped, grouped, a narrow no-break space before the sign: "60 %".
function tesseraPercent(value, places = 2) {
  const number = Number(value);
  if (value === null || value === undefined || value === "" || !Number.isFinite(number)) return "";
  return new Intl.NumberFormat("en", { maximumFractionDigits: places }).format(number) + "\u202f%";
}
window.tesseraPercent = tesseraPercent;

// -- Parts a phone folds away (#17 phone list): a [data-collapse-toggle] button shows or
// hides the .phone-collapsible elements its aria-controls names (CSS hides them on narrow
// screens until opened; wider screens always show them).
document.addEventListener("click", (event) => {
  const toggle = event.target instanceof Element ? event.target.closest("[data-collapse-toggle]") : null;
  if (!toggle) return;
  const open = toggle.getAttribute("aria-expanded") !== "true";
  toggle.setAttribute("aria-expanded", open ? "true" : "false");
  for (const id of (toggle.getAttribute("aria-controls") || "").split(/\s+/).filter(Boolean)) {
    const part = document.getElementById(id);
    if (part) part.toggleAttribute("data-open", open);
  }
});

// -- A form that acts on ticked records (a list's bulk bar): data-selection names the boxes;
// the form carries data-selected while any is ticked (a phone shows the bar only then) and
// its [data-selection-count] says how many.
function tesseraSelection(root) {
  const forms = root.matches && root.matches("form[data-selection]") ? [root]
    : root.querySelectorAll ? root.querySelectorAll("form[data-selection]") : [];
  forms.forEach((form) => {
    const ticked = form.querySelectorAll(`${form.dataset.selection}:checked`).length;
    form.toggleAttribute("data-selected", ticked > 0);
    form.querySelectorAll("[data-selection-count]").forEach((count) => { count.textContent = ticked ? `${ticked} selected` : ""; });
  });
}
document.addEventListener("change", (event) => {
  const form = event.target instanceof Element ? event.target.closest("form[data-selection]") : null;
  if (form) tesseraSelection(form);
});
document.addEventListener("DOMContentLoaded", () => tesseraSelection(document));
document.addEventListener("htmx:load", (event) => {
  const form = event.detail.elt.closest ? event.detail.elt.closest("form[data-selection]") : null;
  tesseraSelection(form || event.detail.elt);
});

// -- A part a page fetches once shown ([data-loading] placeholder, e.g. a record's approvals
// and automation) that could not be fetched says so, rather than "Loading…" for ever.
function tesseraLoadFailed(event) {
  const elt = event.detail.elt;
  const placeholder = elt && elt.querySelector ? elt.querySelector(":scope > [data-loading]") : null;
  if (!placeholder) return;
  placeholder.removeAttribute("data-loading");
  placeholder.className = "field-error";
  placeholder.textContent = "This part could not be loaded; reload the page to try again.";
}
document.addEventListener("htmx:responseError", tesseraLoadFailed);
document.addEventListener("htmx:sendError", tesseraLoadFailed);
