// Line items on a record's form (widgets/lines.html): a grid of the child records.
//
// The grid's cells have no names; the hidden input [data-lines-value] holds the lines the
// form posts — a JSON list, per line its cells as text (as each cell's own widget would
// post them) and a stored line's id — and is rewritten whenever a cell changes. A change
// also posts the form's state (the form's hidden state trigger listens to `change`): the
// server fills cells whose default formula reads what changed (a product's list price),
// works out each line's formulas and the record's formulas over its lines, and this script
// shows its answer. Nothing here computes a value.
//
// Add, duplicate, delete; drag a line by its handle (SortableJS) or move it with Alt+↑/↓
// or its ↑ ↓ buttons; arrows, Tab and Enter move between cells; a block of rows copied
// from a spreadsheet pastes into the cells from the focused one on, adding lines as needed;
// a lookup cell searches its target's records as the lookup widget does
// (GET /app/{target}/lookup/options?q=…). At phone width the lines are cards (CSS only).
(function () {
  if (window.tesseraLines) { window.tesseraLines.start(document); return; }

  // -- the grid and its lines ------------------------------------------------------------
  const rowsOf = (grid) => [...grid.querySelectorAll("tbody[data-lines-body] > tr[data-line]")];
  const cellsOf = (row) => [...row.querySelectorAll("td[data-column] [data-cell]")];
  const gridOf = (element) => element.closest("[data-lines]");
  const columnOf = (input) => input.closest("td[data-column]").dataset.column;

  function valueOf(input) {
    if (input.type === "checkbox") return input.checked ? "true" : "false";
    if (input.dataset.lookup !== undefined) return input.dataset.value || "";
    return input.value;
  }

  function setValue(input, text) {
    if (input.type === "checkbox") {
      input.checked = /^(true|yes|y|1|x|✓|✔|on)$/i.test(String(text).trim());
    } else if (input.tagName === "SELECT") {
      const wanted = String(text).trim().toLowerCase();
      const option = [...input.options].find((o) => o.value.toLowerCase() === wanted
        || o.textContent.trim().toLowerCase() === wanted);
      input.value = option ? option.value : "";
    } else {
      input.value = text;
    }
  }

  // `saving`: a new line left empty (added, never filled in) is not sent.
  function lines(grid, saving) {
    const out = [];
    rowsOf(grid).forEach((row) => {
      const line = {};
      if (row.dataset.lineId) line.id = Number(row.dataset.lineId);
      cellsOf(row).forEach((input) => { line[columnOf(input)] = valueOf(input); });
      const empty = !line.id && Object.values(line).every((v) => v === "" || v === "false");
      if (!(saving && empty)) out.push(line);
    });
    return out;
  }

  // The hidden input follows the cells; `post` also asks the server for the form's state.
  function write(grid, post, saving) {
    const hidden = grid.querySelector("input[data-lines-value]");
    if (!hidden) return;
    hidden.value = JSON.stringify(lines(grid, saving));
    if (post) hidden.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function say(grid, text) {
    const status = grid.querySelector("[data-lines-status]");
    if (!status) return;
    status.textContent = "";
    window.setTimeout(() => { status.textContent = text; }, 30);
  }

  // Line numbers, the labels assistive technology reads ("Quantity, line 3"), the count.
  function renumber(grid) {
    const rows = rowsOf(grid);
    rows.forEach((row, index) => {
      const number = index + 1;
      const shown = row.querySelector("[data-line-number]");
      if (shown) shown.textContent = String(number);
      row.querySelectorAll("td[data-column]").forEach((cell) => {
        const input = cell.querySelector("[data-cell]");
        if (input) input.setAttribute("aria-label", `${cell.dataset.label}, line ${number}`);
      });
      const labels = { "-1": "up", "1": "down" };
      row.querySelectorAll("[data-line-move]").forEach((b) => {
        b.setAttribute("aria-label", `Move line ${number} ${labels[b.dataset.lineMove]}`);
      });
      const copy = row.querySelector("[data-line-duplicate]");
      if (copy) copy.setAttribute("aria-label", `Duplicate line ${number}`);
      const drop = row.querySelector("[data-line-delete]");
      if (drop) drop.setAttribute("aria-label", `Delete line ${number}`);
    });
    const count = grid.closest(".field").querySelector("[data-lines-count]");
    if (count) count.textContent = rows.length === 1 ? "1 line" : `${rows.length} lines`;
    const empty = grid.querySelector("[data-lines-empty]");
    if (empty) empty.hidden = rows.length > 0;
  }

  function changed(grid, message) {
    renumber(grid);
    write(grid, true);
    if (message) say(grid, message);
  }

  function focusCell(row, column) {
    if (!row) return;
    const cells = cellsOf(row);
    const target = cells.find((input) => columnOf(input) === column) || cells[0];
    if (target) {
      target.focus();
      if (target.select && target.type !== "checkbox" && target.tagName !== "SELECT") target.select();
    }
  }

  function room(grid, wanted) {
    const most = Number(grid.dataset.maxLines || "1000");
    if (rowsOf(grid).length + wanted <= most) return true;
    say(grid, `A record holds at most ${most} lines.`);
    return false;
  }

  function newRow(grid) {
    const template = grid.querySelector("template[data-line-template]");
    const row = template.content.querySelector("tr[data-line]").cloneNode(true);
    row.querySelectorAll("button[disabled]").forEach((b) => { b.disabled = false; });
    return row;
  }

  function addLine(grid, after) {
    if (!room(grid, 1)) return null;
    const row = newRow(grid);
    const body = grid.querySelector("tbody[data-lines-body]");
    body.insertBefore(row, after ? after.nextElementSibling : null);
    return row;
  }

  function duplicate(grid, row) {
    if (!room(grid, 1)) return null;
    const copy = row.cloneNode(true);
    delete copy.dataset.lineId;
    copy.removeAttribute("id");
    copy.classList.remove("has-error");
    copy.querySelectorAll(".cell-error").forEach((e) => e.remove());
    copy.querySelectorAll(".has-error").forEach((e) => e.classList.remove("has-error"));
    copy.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
    // A clone keeps the attributes, not what was typed since: copy the values over.
    const from = cellsOf(row);
    cellsOf(copy).forEach((input, i) => {
      if (input.type === "checkbox") input.checked = from[i].checked;
      else input.value = from[i].value;
      input.setAttribute("aria-expanded", "false");
    });
    row.parentElement.insertBefore(copy, row.nextElementSibling);
    return copy;
  }

  function move(grid, row, step) {
    const sibling = step < 0 ? row.previousElementSibling : row.nextElementSibling;
    if (!sibling) return false;
    if (step < 0) row.parentElement.insertBefore(row, sibling);
    else row.parentElement.insertBefore(sibling, row);
    const place = rowsOf(grid).indexOf(row) + 1;
    changed(grid, `Line moved to place ${place}.`);
    return true;
  }

  // -- a person's changes to a cell --------------------------------------------------------
  // Cells whose default formula reads the changed one get the server's next value (a new
  // product, a new price), unless the same change set them too (a pasted block).
  function refill(row, column, except) {
    row.querySelectorAll("td[data-fill-from]").forEach((cell) => {
      const reads = cell.dataset.fillFrom.split(" ");
      if (reads.includes(column) && !(except && except.has(cell.dataset.column))) cell.dataset.filled = "1";
    });
  }

  function touched(input) {
    const cell = input.closest("td[data-column]");
    delete cell.dataset.filled;
    cell.dataset.touched = "1";
    // A problem the save found goes when the cell is changed; the server says again if need be.
    cell.classList.remove("has-error");
    cell.querySelectorAll(".cell-error").forEach((e) => e.remove());
    input.removeAttribute("aria-invalid");
    refill(input.closest("tr"), cell.dataset.column);
  }

  document.addEventListener("input", (event) => {
    const input = event.target;
    if (!(input instanceof HTMLElement) || !input.matches("[data-lines] [data-cell]")) return;
    if (input.dataset.lookup !== undefined) { lookupTyped(input); return; }
    touched(input);
    write(gridOf(input), false);
  });

  document.addEventListener("change", (event) => {
    const input = event.target;
    if (!(input instanceof HTMLElement) || !input.matches("[data-lines] [data-cell]")) return;
    if (input.dataset.lookup !== undefined) return; // a pick writes the lines itself
    if (input.type === "checkbox" || input.tagName === "SELECT") touched(input);
    write(gridOf(input), false);
  });

  // The form always posts the lines as the cells show them.
  document.addEventListener("submit", (event) => {
    if (!(event.target instanceof HTMLFormElement)) return;
    event.target.querySelectorAll("[data-lines-editable]").forEach((grid) => write(grid, false, true));
  }, true);

  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest("[data-lines] button") : null;
    if (!button) return;
    const grid = gridOf(button);
    const row = button.closest("tr[data-line]");
    if (button.matches("[data-line-add]")) {
      const added = addLine(grid, null);
      if (!added) return;
      changed(grid, `Line ${rowsOf(grid).length} added.`);
      focusCell(added, null);
    } else if (button.matches("[data-line-duplicate]") && row) {
      const copy = duplicate(grid, row);
      if (!copy) return;
      changed(grid, `Line ${rowsOf(grid).indexOf(copy) + 1} added as a copy.`);
      copy.querySelector("[data-line-duplicate]").focus();
    } else if (button.matches("[data-line-delete]") && row) {
      const next = row.nextElementSibling || row.previousElementSibling;
      const place = rowsOf(grid).indexOf(row) + 1;
      row.remove();
      changed(grid, `Line ${place} deleted.`);
      const focus = next ? next.querySelector("[data-line-delete]") : grid.querySelector("[data-line-add]");
      if (focus) focus.focus();
    } else if (button.matches("[data-line-move]") && row) {
      move(grid, row, Number(button.dataset.lineMove));
    }
  });

  // -- keys ----------------------------------------------------------------------------------
  function caretAt(input, end) {
    if (input.tagName === "SELECT" || input.type === "checkbox") return true;
    try {
      if (input.selectionStart !== input.selectionEnd) return false;
      return end ? input.selectionEnd === input.value.length : input.selectionStart === 0;
    } catch {
      return true; // inputs without a caret (date)
    }
  }

  document.addEventListener("keydown", (event) => {
    const input = event.target;
    if (!(input instanceof HTMLElement) || !input.matches("[data-lines] [data-cell]")) return;
    if (input.dataset.lookup !== undefined && lookupKey(input, event)) return;
    const grid = gridOf(input);
    const row = input.closest("tr[data-line]");
    const column = columnOf(input);
    const rows = rowsOf(grid);
    const index = rows.indexOf(row);
    const cells = cellsOf(row);
    const at = cells.indexOf(input);
    if (event.altKey && (event.key === "ArrowUp" || event.key === "ArrowDown")) {
      event.preventDefault();
      move(grid, row, event.key === "ArrowUp" ? -1 : 1);
      input.focus();
      return;
    }
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.key === "Enter") {
      // Enter moves down a line, as in a spreadsheet; it never sends the form from a cell.
      event.preventDefault();
      focusCell(rows[index + (event.shiftKey ? -1 : 1)], column); // leaving a lookup cell settles it
    } else if ((event.key === "ArrowDown" || event.key === "ArrowUp") && input.tagName !== "SELECT") {
      const target = rows[index + (event.key === "ArrowDown" ? 1 : -1)];
      if (!target) return;
      event.preventDefault();
      focusCell(target, column);
    } else if (event.key === "ArrowLeft" && at > 0 && caretAt(input, false)) {
      event.preventDefault();
      focusCell(row, columnOf(cells[at - 1]));
    } else if (event.key === "ArrowRight" && at < cells.length - 1 && caretAt(input, true)) {
      event.preventDefault();
      focusCell(row, columnOf(cells[at + 1]));
    }
  });

  // -- pasting a block of rows ---------------------------------------------------------------
  // Text copied from Excel or Google Sheets: rows on lines, cells separated by tabs; a
  // cell holding a tab, a line break or a quote comes quoted ("a ""b""").
  function table(text) {
    const rows = [];
    let row = [];
    let cell = "";
    let quoted = false;
    for (let i = 0; i < text.length; i += 1) {
      const c = text[i];
      if (quoted) {
        if (c === '"' && text[i + 1] === '"') { cell += '"'; i += 1; } else if (c === '"') quoted = false;
        else cell += c;
      } else if (c === '"' && cell === "") {
        quoted = true;
      } else if (c === "\t") {
        row.push(cell); cell = "";
      } else if (c === "\n" || c === "\r") {
        if (c === "\r" && text[i + 1] === "\n") i += 1;
        row.push(cell); rows.push(row); row = []; cell = "";
      } else {
        cell += c;
      }
    }
    if (cell !== "" || row.length) { row.push(cell); rows.push(row); }
    return rows;
  }

  document.addEventListener("paste", (event) => {
    const input = event.target;
    if (!(input instanceof HTMLElement) || !input.matches("[data-lines-editable] [data-cell]")) return;
    const text = event.clipboardData ? event.clipboardData.getData("text/plain") : "";
    if (!/[\t\r\n]/.test(text.replace(/[\r\n]+$/, ""))) return; // one value: the input takes it
    event.preventDefault();
    const grid = gridOf(input);
    const block = table(text);
    const start = rowsOf(grid).indexOf(input.closest("tr[data-line]"));
    const columns = cellsOf(input.closest("tr[data-line]")).map(columnOf);
    const first = columns.indexOf(columnOf(input));
    let added = 0;
    const waits = [];
    block.forEach((values, k) => {
      let row = rowsOf(grid)[start + k];
      if (!row) {
        row = addLine(grid, null);
        if (!row) return;
        added += 1;
      }
      // A blank pasted cell leaves the cell to what the server fills in (a product's price).
      const set = new Set(values.map((v, j) => (v.trim() ? columns[first + j] : null)).filter(Boolean));
      values.forEach((value, j) => {
        const column = columns[first + j];
        if (!column) return;
        const target = cellsOf(row).find((c) => columnOf(c) === column);
        if (!target) return;
        const cell = target.closest("td");
        delete cell.dataset.filled;
        if (value.trim()) cell.dataset.touched = "1";
        else delete cell.dataset.touched;
        cell.querySelectorAll(".cell-error").forEach((e) => e.remove());
        cell.classList.remove("has-error");
        if (target.dataset.lookup !== undefined) waits.push(lookupResolve(target, value.trim()));
        else setValue(target, value.trim());
        refill(row, column, set);
      });
    });
    Promise.all(waits).then(() => {
      changed(grid, `${block.length} ${block.length === 1 ? "row" : "rows"} pasted`
        + (added ? `, ${added} ${added === 1 ? "line" : "lines"} added.` : "."));
    });
  });

  // -- lookup cells --------------------------------------------------------------------------
  // A combobox: typing asks the lookup endpoint for matching records (only those the person
  // may see); ↓ ↑ move, Enter or a click picks, Esc puts back what was there.
  let list = null;   // the one list of matches, under the cell being typed in
  let box = null;    // that cell's input
  let options = [];
  let active = -1;
  let asked = 0;
  let timer = null;

  function ensureList() {
    if (list && list.isConnected) return list;
    list = document.createElement("ul");
    list.id = "line-lookup-options";
    list.className = "line-lookup-options";
    list.setAttribute("role", "listbox");
    list.hidden = true;
    list.addEventListener("mousedown", (event) => event.preventDefault()); // keep the focus in the cell
    list.addEventListener("click", (event) => {
      const option = event.target.closest("[role=option]");
      if (option && box) pick(box, options[Number(option.dataset.index)]);
    });
    document.body.appendChild(list);
    return list;
  }

  function close() {
    clearTimeout(timer);
    asked += 1;
    if (list) { list.hidden = true; list.replaceChildren(); }
    if (box) { box.setAttribute("aria-expanded", "false"); box.removeAttribute("aria-activedescendant"); }
    options = [];
    active = -1;
  }

  async function search(input, text) {
    const response = await fetch(`/app/${encodeURIComponent(input.dataset.lookup)}/lookup/options?q=${encodeURIComponent(text)}`,
      { headers: { Accept: "text/html" } });
    if (!response.ok) return [];
    const page = new DOMParser().parseFromString(`<select>${await response.text()}</select>`, "text/html");
    return [...page.querySelectorAll("option")].filter((o) => o.value)
      .map((o) => ({ id: o.value, name: o.textContent.trim() }));
  }

  function highlight(index) {
    active = index;
    [...list.children].forEach((li, i) => li.setAttribute("aria-selected", String(i === index)));
    const chosen = list.children[index];
    if (chosen) { box.setAttribute("aria-activedescendant", chosen.id); chosen.scrollIntoView({ block: "nearest" }); }
  }

  function show(input, found) {
    box = input;
    options = found;
    ensureList();
    if (!found.length) {
      const none = document.createElement("li");
      none.className = "muted";
      none.textContent = "No matches";
      list.replaceChildren(none);
    } else {
      list.replaceChildren(...found.map((o, i) => {
        const li = document.createElement("li");
        li.id = `line-lookup-option-${i}`;
        li.setAttribute("role", "option");
        li.dataset.index = String(i);
        li.textContent = o.name;
        return li;
      }));
    }
    list.hidden = false;
    const rect = input.getBoundingClientRect();
    list.style.minWidth = `${Math.max(rect.width, 180)}px`;
    const roomLeft = document.documentElement.clientWidth - list.offsetWidth - 4;
    list.style.left = `${Math.max(4, Math.min(rect.left, roomLeft)) + window.scrollX}px`;
    list.style.top = `${rect.bottom + window.scrollY + 2}px`;
    input.setAttribute("aria-controls", list.id);
    input.setAttribute("aria-expanded", "true");
    highlight(found.length ? 0 : -1);
  }

  // `everything`: the first records whatever the cell says (a click on a picked record
  // offers the others to choose instead).
  function ask(input, everything) {
    clearTimeout(timer);
    const ticket = ++asked;
    timer = window.setTimeout(async () => {
      const found = await search(input, everything ? "" : input.value.trim());
      if (ticket === asked && document.activeElement === input) show(input, found);
    }, 200);
  }

  function lookupTyped(input) {
    const cell = input.closest("td");
    cell.querySelectorAll(".cell-error").forEach((e) => e.remove());
    cell.classList.remove("has-error");
    ask(input);
  }

  function pick(input, option) {
    const before = input.dataset.value || "";
    input.dataset.value = option ? option.id : "";
    input.dataset.name = option ? option.name : "";
    input.value = option ? option.name : "";
    close();
    if (before !== input.dataset.value) {
      touched(input);
      changed(gridOf(input));
    }
  }

  // Leaving a cell whose text no longer names the picked record: blank text clears it; a
  // record's whole name (or text only one record's name holds) picks it; anything else is
  // said beside the cell.
  function lookupLeave(input) {
    close();
    const text = input.value.trim();
    if (!text) {
      if (input.dataset.value) pick(input, null);
      return;
    }
    if (text === (input.dataset.name || "")) return;
    const before = input.dataset.value || "";
    lookupResolve(input, text).then(() => {
      if ((input.dataset.value || "") === before) return;
      touched(input);
      changed(gridOf(input));
    });
  }

  function lookupKey(input, event) {
    const open = list && !list.hidden && box === input;
    if (open && (event.key === "ArrowDown" || event.key === "ArrowUp") && !event.altKey) {
      event.preventDefault();
      if (options.length) highlight((active + (event.key === "ArrowDown" ? 1 : options.length - 1)) % options.length);
      return true;
    }
    if (open && event.key === "Enter" && active >= 0) {
      event.preventDefault();
      pick(input, options[active]);
      return true;
    }
    if (event.key === "Escape" && open) {
      event.preventDefault();
      input.value = input.dataset.name || "";
      close();
      return true;
    }
    return false;
  }

  // A pasted name: the record whose name it is (ignoring case), else the only match.
  async function lookupResolve(input, text) {
    const cell = input.closest("td");
    cell.querySelectorAll(".cell-error").forEach((e) => e.remove());
    cell.classList.remove("has-error");
    if (!text) { input.dataset.value = ""; input.dataset.name = ""; input.value = ""; return; }
    const found = await search(input, text);
    const same = found.filter((o) => o.name.toLowerCase() === text.toLowerCase());
    const chosen = same.length ? same[0] : found.length === 1 ? found[0] : null;
    if (chosen) {
      input.dataset.value = chosen.id;
      input.dataset.name = chosen.name;
      input.value = chosen.name;
      return;
    }
    input.dataset.value = "";
    input.dataset.name = "";
    input.value = text;
    const problem = document.createElement("span");
    problem.className = "cell-error";
    problem.textContent = found.length ? `More than one ${cell.dataset.label} matches “${text}”: pick one`
      : `No ${cell.dataset.label} named “${text}”`;
    cell.classList.add("has-error");
    cell.appendChild(problem);
  }

  document.addEventListener("click", (event) => {
    const input = event.target;
    if (input instanceof HTMLElement && input.matches("[data-lines] input[data-lookup]")) {
      ask(input, input.value === (input.dataset.name || ""));
    }
  });

  document.addEventListener("focusout", (event) => {
    const input = event.target;
    if (input instanceof HTMLElement && input.matches("[data-lines] input[data-lookup]")) lookupLeave(input);
  });

  // -- the server's answer -------------------------------------------------------------------
  // The rows a state request was made for: an answer applies to them, wherever they are now.
  document.addEventListener("htmx:beforeRequest", (event) => {
    const trigger = event.detail.elt;
    if (!trigger.matches || !trigger.matches("[data-form-state]")) return;
    const form = trigger.closest("form");
    const asked = new Map();
    form.querySelectorAll("[data-lines-editable]").forEach((grid) => asked.set(grid, rowsOf(grid)));
    event.detail.xhr.tesseraLines = asked;
  });

  function showProblems(grid, rows, errors) {
    grid.querySelectorAll(".cell-error[data-live]").forEach((e) => {
      const cell = e.closest("td");
      e.remove();
      if (cell && !cell.querySelector(".cell-error")) cell.classList.remove("has-error");
    });
    const prefix = `${grid.dataset.fieldName}[`;
    (errors || []).forEach((problem) => {
      if (!problem.field || !problem.field.startsWith(prefix)) return;
      const found = /^[^[]+\[(\d+)\]\.?([a-z0-9_]*)/.exec(problem.field);
      const row = found ? rows[Number(found[1])] : null;
      if (!row || !row.isConnected) return;
      const cell = row.querySelector(`td[data-column="${CSS.escape(found[2])}"]`) || row.querySelector("td[data-column]");
      if (!cell) return;
      const span = document.createElement("span");
      span.className = "cell-error";
      span.dataset.live = "1";
      span.textContent = problem.message;
      cell.classList.add("has-error");
      cell.appendChild(span);
    });
  }

  document.addEventListener("htmx:afterRequest", (event) => {
    const trigger = event.detail.elt;
    if (!trigger.matches || !trigger.matches("[data-form-state]") || !event.detail.successful) return;
    let answer;
    try { answer = JSON.parse(event.detail.xhr.responseText); } catch { return; }
    const form = trigger.closest("form");
    const asked = event.detail.xhr.tesseraLines || new Map();
    for (const [name, text] of Object.entries(answer.values || {})) {
      const shown = form.querySelector(`[data-field="${CSS.escape(name)}"] output.computed`);
      if (shown) shown.textContent = text;
    }
    form.querySelectorAll("[data-lines-editable]").forEach((grid) => {
      const state = (answer.lines || {})[grid.dataset.fieldName];
      const rows = asked.get(grid) || rowsOf(grid);
      showProblems(grid, rows, answer.errors);
      if (!state) return;
      let filled = false;
      (state.rows || []).forEach((line, index) => {
        const row = rows[index];
        if (!row || !row.isConnected) return;
        for (const [column, text] of Object.entries(line.cells || {})) {
          const output = row.querySelector(`td[data-column="${CSS.escape(column)}"] [data-cell-value]`);
          if (output && !output.querySelector("a")) output.textContent = text;
        }
        for (const [column, fill] of Object.entries(line.fills || {})) {
          const cell = row.querySelector(`td[data-column="${CSS.escape(column)}"]`);
          const input = cell ? cell.querySelector("[data-cell]") : null;
          if (!input || document.activeElement === input) continue;
          const blank = !valueOf(input) || valueOf(input) === "false";
          if (!(cell.dataset.filled === "1" || (blank && !cell.dataset.touched))) continue;
          if (valueOf(input) === fill.value) { cell.dataset.filled = "1"; continue; }
          if (input.dataset.lookup !== undefined) {
            input.dataset.value = fill.value;
            input.dataset.name = fill.display;
            input.value = fill.display;
          } else {
            setValue(input, fill.value);
          }
          cell.dataset.filled = "1";
          filled = true;
        }
      });
      for (const [column, text] of Object.entries(state.totals || {})) {
        const output = grid.querySelector(`td[data-total="${CSS.escape(column)}"] [data-total-value]`);
        if (output) output.textContent = text;
      }
      // Filled cells change what the lines' formulas give: ask once more.
      if (filled) write(grid, true);
      else write(grid, false);
    });
  });

  // -- starting ------------------------------------------------------------------------------
  function prepare(grid) {
    if (grid.dataset.linesReady) return;
    grid.dataset.linesReady = "1";
    write(grid, false);
    grid.querySelectorAll("button[disabled]").forEach((b) => { b.disabled = false; });
    const body = grid.querySelector("tbody[data-lines-body]");
    if (window.Sortable && body) {
      Sortable.create(body, {
        handle: ".line-handle", draggable: "tr[data-line]", animation: 120, forceFallback: true,
        onEnd: (event) => {
          if (event.oldIndex !== event.newIndex) changed(grid, `Line moved to place ${event.newIndex + 1}.`);
        },
      });
    }
  }

  function start(root) {
    (root || document).querySelectorAll("[data-lines-editable]").forEach(prepare);
  }

  window.tesseraLines = { start };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => start(document));
  else start(document);
  document.addEventListener("htmx:load", (event) => start(event.detail.elt));
})();
