// Suggestions in formula boxes. Any input or textarea with data-formula-object="<object>"
// (the object the formula is about) gets them, wherever and whenever it appears on the page
// (Alpine templates, the flow designer's panels): typing part of a field's label or name
// offers the fields (label shown, name inserted), after a choice field and "=" its options
// (label shown, the stored value inserted in quotes), and functions with their signatures.
// The server answers what fits at the cursor (POST /api/v1/formula/complete), only what the
// person may see; nothing about formulas is worked out here.
//
// Keys: ↓ ↑ move, Enter or Tab takes the highlighted suggestion, Esc closes, Ctrl+Space
// asks again. The mouse picks one by clicking. The box is a combobox whose list is a
// listbox; the highlighted option is its aria-activedescendant.
(function () {
  if (window.tesseraFormulaBox) return;
  const SELECTOR = "input[data-formula-object], textarea[data-formula-object]";
  let list = null;   // the one list of suggestions, under the box being typed in
  let box = null;    // the box it serves
  let items = [];
  let active = -1;
  let asked = 0;
  let timer = null;
  let quiet = false; // the input event an inserted suggestion fires asks nothing
  let shown = null;  // the text and cursor the list was made for

  function token() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? { "X-CSRF-Token": meta.content } : {};
  }

  function ensureList() {
    if (list && list.isConnected) return list;
    list = document.createElement("ul");
    list.id = "formula-suggestions";
    list.className = "formula-suggestions";
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", "Suggestions");
    list.hidden = true;
    // Clicking a suggestion must not take the focus (and the caret) away from the box.
    list.addEventListener("mousedown", (event) => event.preventDefault());
    list.addEventListener("click", (event) => {
      const option = event.target.closest("[role=option]");
      if (option) accept(Number(option.dataset.index));
    });
    document.body.appendChild(list);
    return list;
  }

  function prepare(input) {
    if (input.dataset.formulaReady) return;
    input.dataset.formulaReady = "1";
    if (input.tagName === "INPUT") input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", "formula-suggestions");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("autocomplete", "off");
  }

  function close() {
    clearTimeout(timer);
    asked += 1; // an answer still on its way is of no more use
    if (list) { list.hidden = true; list.replaceChildren(); }
    if (box) {
      box.setAttribute("aria-expanded", "false");
      box.removeAttribute("aria-activedescendant");
    }
    items = [];
    active = -1;
    shown = null;
  }

  // Under the box, kept inside the window (a box near the right edge of a phone).
  function place() {
    const rect = box.getBoundingClientRect();
    list.style.minWidth = `${Math.min(rect.width, 480)}px`;
    const room = document.documentElement.clientWidth - list.offsetWidth - 4;
    list.style.left = `${Math.max(4, Math.min(rect.left, room)) + window.scrollX}px`;
    list.style.top = `${rect.bottom + window.scrollY + 2}px`;
  }

  function highlight(index) {
    active = index;
    [...list.children].forEach((li, i) => li.setAttribute("aria-selected", String(i === index)));
    const chosen = list.children[index];
    if (chosen) {
      box.setAttribute("aria-activedescendant", chosen.id);
      chosen.scrollIntoView({ block: "nearest" });
    } else {
      box.removeAttribute("aria-activedescendant");
    }
  }

  function show(input, completions) {
    const cursor = input.selectionStart;
    // Nothing to add when the one suggestion is what is already typed.
    const adds = completions.filter((c) => input.value.slice(cursor - c.replace, cursor) !== c.insert);
    if (!adds.length) { close(); return; }
    box = input;
    items = completions;
    shown = { value: input.value, cursor };
    ensureList();
    list.replaceChildren(...completions.map((c, i) => {
      const li = document.createElement("li");
      li.id = `formula-suggestion-${i}`;
      li.setAttribute("role", "option");
      li.dataset.index = String(i);
      li.dataset.kind = c.kind;
      const label = document.createElement("span");
      label.className = "suggestion-label";
      label.textContent = c.label;
      const detail = document.createElement("span");
      detail.className = "suggestion-detail";
      detail.textContent = c.detail;
      li.append(label, detail);
      return li;
    }));
    list.hidden = false;
    place();
    input.setAttribute("aria-expanded", "true");
    highlight(0);
  }

  async function ask(input) {
    const object = input.dataset.formulaObject;
    if (!object) { close(); return; }
    const mine = ++asked;
    const expression = input.value;
    const cursor = input.selectionStart;
    let answer;
    try {
      const response = await fetch("/api/v1/formula/complete", {
        method: "POST", headers: Object.assign({ "Content-Type": "application/json" }, token()),
        body: JSON.stringify({ object, expression, cursor }),
      });
      if (!response.ok) { if (mine === asked) close(); return; }
      answer = await response.json();
    } catch (error) {
      return; // offline or navigating away: no suggestions, the box still works
    }
    // An answer about text that has changed since (typing goes on while it travels) is dropped.
    if (mine !== asked || document.activeElement !== input || input.value !== expression ||
        input.selectionStart !== cursor) return;
    show(input, answer.completions || []);
  }

  // Whether the suggestion went in. Typing on while the next answer travels only lengthens
  // the word the list is about: the suggestion replaces what was typed since too; any other
  // change makes the list stale, and it closes instead.
  function accept(index) {
    const chosen = items[index];
    const input = box;
    if (!chosen || !input) return false;
    const end = input.selectionStart;
    let replace = chosen.replace;
    if (shown && input.value !== shown.value) {
      const typed = input.value.length - shown.value.length;
      const onlyTyped = typed > 0 && end === shown.cursor + typed &&
        input.value.slice(0, shown.cursor) === shown.value.slice(0, shown.cursor) &&
        input.value.slice(end) === shown.value.slice(shown.cursor);
      if (!onlyTyped) { close(); return false; }
      replace += typed;
    }
    input.setRangeText(chosen.insert, Math.max(0, end - replace), end, "end");
    close();
    quiet = true;
    try {
      input.dispatchEvent(new Event("input", { bubbles: true })); // Alpine's x-model and the live checks
    } finally {
      quiet = false;
    }
    input.focus();
    return true;
  }

  // Boxes are announced as comboboxes from the start: those on the page, those htmx brings
  // (a boosted navigation), and the ones scripts add later when they are first focused.
  const prepareAll = (root) => {
    if (root && root.querySelectorAll) root.querySelectorAll(SELECTOR).forEach(prepare);
  };
  prepareAll(document);
  document.addEventListener("DOMContentLoaded", () => prepareAll(document));
  document.addEventListener("htmx:load", (event) => prepareAll(event.detail && event.detail.elt));
  document.addEventListener("focusin", (event) => {
    if (event.target.matches && event.target.matches(SELECTOR)) prepare(event.target);
  });

  document.addEventListener("input", (event) => {
    const input = event.target;
    if (quiet || !input.matches || !input.matches(SELECTOR)) return;
    prepare(input);
    if (box !== input) close();
    box = input;
    asked += 1;
    clearTimeout(timer);
    timer = setTimeout(() => ask(input), 120);
  });

  document.addEventListener("keydown", (event) => {
    const input = event.target;
    if (!input.matches || !input.matches(SELECTOR)) return;
    if (event.key === " " && event.ctrlKey) {
      event.preventDefault();
      box = input;
      ask(input);
      return;
    }
    const open = list && !list.hidden && box === input && items.length;
    if (!open) return;
    const consume = () => { event.preventDefault(); event.stopPropagation(); };
    if (event.key === "ArrowDown") { consume(); highlight((active + 1) % items.length); }
    else if (event.key === "ArrowUp") { consume(); highlight((active - 1 + items.length) % items.length); }
    else if ((event.key === "Enter" || event.key === "Tab") && active >= 0 && !event.shiftKey) {
      if (accept(active)) consume();
    }
    else if (event.key === "Escape") { consume(); close(); }
    else if (event.key === "ArrowLeft" || event.key === "ArrowRight" || event.key === "Home" || event.key === "End") close();
  }, true);

  document.addEventListener("focusout", (event) => {
    if (event.target === box) close();
  });
  document.addEventListener("mousedown", (event) => {
    if (list && !list.hidden && event.target !== box && !list.contains(event.target)) close();
  });
  window.addEventListener("resize", () => { if (list && !list.hidden && box) place(); });
  // A panel scrolled under the list (the flow designer's, the rule builder's) takes the box along.
  document.addEventListener("scroll", (event) => {
    if (list && !list.hidden && box && !list.contains(event.target)) place();
  }, true);
  // A page swapped by htmx takes the box away: its list goes with it.
  document.addEventListener("htmx:beforeSwap", close);

  window.tesseraFormulaBox = { close };
})();
