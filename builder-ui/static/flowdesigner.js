// The flow designer: a vertical block editor (trigger on top, steps below, a "+" between
// blocks to insert one; branch and parallel steps as side-by-side columns, each with its
// own "+"). Clicking a block opens its settings in the side panel. The page edits the
// same `flows` document the API stores: Save writes it (/api/v1/meta/flows), Validate asks
// the server for every problem (/api/v1/flows/check) and shows each beside the block its
// JSON pointer names, Publish publishes the saved document. Formulas are checked by the
// server as they are typed; nothing is evaluated in the browser.
(function () {
  "use strict";
  const root = document.getElementById("flow-designer");
  if (!root) return;
  const setup = JSON.parse(document.getElementById("flow-setup").textContent);
  const canvas = document.getElementById("flow-canvas");
  const panel = document.getElementById("flow-panel");
  const status = document.getElementById("flow-status");
  const object = setup.doc.object;

  const doc = JSON.parse(JSON.stringify(setup.doc));
  let version = doc.version || null;
  delete doc.uid;
  delete doc.version;
  let isNew = !!setup.new;
  let name = doc.api_name || "";
  let savedKeys = new Set(Object.keys(doc));
  let nameTouched = !isNew;
  let dirty = isNew;
  let selected = null;
  let problems = [];

  const TYPE_LABELS = {
    approval: "Approval", task: "Task", action: "Action", branch: "Branch", parallel: "Parallel",
    wait: "Wait", goto: "Go back", end: "End",
  };
  const PEOPLE_KINDS = ["user", "role", "team", "field", "manager", "formula"];

  // -- the document ----------------------------------------------------------------------
  function at(pointer) {
    let node = doc;
    for (const part of pointer.split("/").slice(1)) {
      if (node == null) return undefined;
      node = node[/^\d+$/.test(part) ? Number(part) : part];
    }
    return node;
  }

  function parentOf(pointer) {
    const parts = pointer.split("/");
    const last = parts.pop();
    return { list: at(parts.join("/")), index: Number(last), pointer: parts.join("/") };
  }

  function allSteps(steps, out) {
    for (const step of steps || []) {
      out.push(step);
      for (const branch of step.branches || []) allSteps(branch.steps, out);
      if (Array.isArray(step.default)) allSteps(step.default, out);
    }
    return out;
  }

  // The steps a "Go back to" may name (not a branch or parallel block), each by its label
  // as people read it; two steps with the same label are told apart by a number in the
  // order they come ("Review (1)", "Review (2)"), never by their ids.
  function targetNames() {
    const steps = allSteps(doc.steps, []).filter((s) => !["branch", "parallel", "goto"].includes(s.type));
    const count = {};
    for (const s of steps) { const l = s.label || TYPE_LABELS[s.type] || s.type; count[l] = (count[l] || 0) + 1; }
    const seen = {};
    return steps.map((s) => {
      const label = s.label || TYPE_LABELS[s.type] || s.type;
      seen[label] = (seen[label] || 0) + 1;
      return [s.id, count[label] > 1 ? `${label} (${seen[label]})` : label, s];
    });
  }
  const targetName = (id) => ((targetNames().find(([key]) => key === id) || [])[1]) || id;

  function newId(type) {
    const taken = new Set(allSteps(doc.steps, []).map((s) => s.id));
    let n = 1;
    while (taken.has(`${type}_${n}`)) n += 1;
    return `${type}_${n}`;
  }

  function newStep(type) {
    const step = { id: newId(type), type, label: TYPE_LABELS[type] };
    if (type === "approval") step.approvers = [];
    if (type === "task") step.assignees = [];
    if (type === "action") Object.assign(step, { label: "Update the record", action: "update_record", set: {} });
    if (type === "branch") Object.assign(step, { branches: [{ label: "Condition 1", condition: "", steps: [] }], default: [] });
    if (type === "parallel") step.branches = [{ label: "Branch 1", steps: [] }, { label: "Branch 2", steps: [] }];
    if (type === "wait") step.duration = "P1D";
    if (type === "goto") {
      const earlier = allSteps(doc.steps, []).find((s) => s.type === "approval" || s.type === "task");
      step.target = earlier ? earlier.id : "";
    }
    if (type === "end") step.outcome = "approved";
    return step;
  }

  function changed(structural) {
    dirty = true;
    if (structural) problems = [];
    draw();
  }

  // -- drawing the canvas ----------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined && child !== false) {
        node.append(child instanceof Node ? child : document.createTextNode(String(child)));
      }
    }
    return node;
  }

  // Names people read in the blocks: a role's, team's or field's label, not its name.
  const labelOf = (pairs, name) => ((pairs || []).find((p) => p[0] === name) || [])[1] || name;
  const fieldLabel = (name) => ((setup.fields || []).find((f) => f.api_name === name) || {}).label || name;
  const APPROVAL_MODES = { all: "everyone approves", any: "first answer decides", quorum: "a quorum", sequence: "one after another" };

  function peopleText(people) {
    if (!people || !people.length) return "nobody yet";
    return people.map((p) => {
      const kind = Object.keys(p).find((k) => k !== "levels");
      if (kind === "manager") {
        const whose = p.manager === "submitter" ? "the submitter" : p.manager === "approver" ? "the approver"
          : fieldLabel(p.manager);
        return `manager of ${whose}${p.levels > 1 ? ` (${p.levels} up)` : ""}`;
      }
      if (kind === "role") return `role ${labelOf(setup.roles, p.role)}`;
      if (kind === "team") return `team ${labelOf(setup.teams, p.team)}`;
      if (kind === "field") return fieldLabel(p.field);
      return `${kind} ${p[kind]}`;
    }).join(", ");
  }

  // How an approval decides, in words; a quorum says how many must approve: "60 % must
  // approve" (a share, in the house style of percentages) or "2 must approve".
  function approvalMode(step) {
    const quorum = step.quorum || {};
    if (step.mode === "quorum" && "share" in quorum) return `${tesseraPercent(Number(quorum.share) * 100, 2)} must approve`;
    if (step.mode === "quorum" && quorum.count) return `${quorum.count} must approve`;
    return APPROVAL_MODES[step.mode || "all"] || step.mode;
  }

  function summary(step) {
    switch (step.type) {
      case "approval": return `${peopleText(step.approvers)} · ${approvalMode(step)}${step.lock_record ? " · locks" : ""}`;
      case "task": return `${peopleText(step.assignees)} · ${step.mode === "all" ? "each completes it" : "one completes it"}`;
      case "action": return (setup.actions[step.action] || {}).label || step.action || "no action";
      case "wait": return step.duration ? `for ${tesseraDurations.show(step.duration)}` : step.until ? `until ${step.until}`
        : step.until_condition ? `until ${step.until_condition}` : "";
      case "goto": return step.target ? `back to ${targetName(step.target)}` : "back to … (choose a step)";
      case "end": return `ends ${step.outcome || "completed"}`;
      case "parallel": return `join ${typeof step.join === "object" ? step.join.count : step.join || "all"}`;
      default: return "";
    }
  }

  function insertButton(listPointer, index) {
    return el("div", { class: "flow-insert" },
      el("button", {
        type: "button", class: "flow-add", "aria-label": "Add a step here", title: "Add a step",
        "data-list": listPointer, "data-index": index, onclick: (event) => openMenu(event.currentTarget),
      }, "+"));
  }

  function openMenu(button) {
    closeMenu();
    const menu = el("div", { class: "flow-menu card", role: "menu", id: "flow-menu" },
      setup.step_types.map((type) => el("button", {
        type: "button", role: "menuitem", "data-type": type, class: `flow-menu-item type-${type}`,
        onclick: () => {
          const list = at(button.dataset.list);
          const index = Number(button.dataset.index);
          list.splice(index, 0, newStep(type));
          closeMenu();
          selected = `${button.dataset.list}/${index}`;
          changed(true);
          drawPanel();
        },
      }, TYPE_LABELS[type])));
    button.parentElement.append(menu);
  }

  function closeMenu() {
    const menu = document.getElementById("flow-menu");
    if (menu) menu.remove();
  }

  document.addEventListener("click", (event) => {
    if (!event.target.closest(".flow-insert")) closeMenu();
  });

  function drawList(steps, pointer) {
    const list = el("div", { class: "flow-list", "data-list": pointer });
    steps.forEach((step, index) => {
      list.append(insertButton(pointer, index), drawStep(step, `${pointer}/${index}`));
    });
    list.append(insertButton(pointer, steps.length));
    return list;
  }

  function blockHead(pointer, title, subtitle, type, removable) {
    return el("div", {
      class: `flow-block type-${type}${selected === pointer ? " selected" : ""}`, "data-pointer": pointer,
      tabindex: "0", role: "button", "aria-pressed": selected === pointer ? "true" : "false",
      onclick: (event) => { if (!event.target.closest(".flow-remove")) select(pointer); },
      onkeydown: (event) => { if (event.key === "Enter") select(pointer); },
    },
    el("div", { class: "flow-block-title" }, el("span", { class: "flow-type", text: TYPE_LABELS[type] || type }),
      el("strong", { text: title }),
      removable ? el("button", {
        type: "button", class: "flow-remove link", "aria-label": `Remove ${title}`, title: "Remove",
        onclick: () => remove(pointer),
      }, "×") : null),
    subtitle ? el("div", { class: "flow-summary muted", text: subtitle }) : null,
    el("div", { class: "flow-problems" }));
  }

  function drawStep(step, pointer) {
    const head = blockHead(pointer, step.label || step.id, summary(step), step.type, true);
    if (step.type !== "branch" && step.type !== "parallel") return head;
    const columns = el("div", { class: "flow-columns" });
    (step.branches || []).forEach((branch, b) => {
      const bp = `${pointer}/branches/${b}`;
      columns.append(el("div", { class: "flow-column" },
        el("div", {
          class: `flow-branch-head${selected === bp ? " selected" : ""}`, "data-pointer": bp, tabindex: "0",
          role: "button", onclick: () => select(bp), onkeydown: (event) => { if (event.key === "Enter") select(bp); },
        }, el("strong", { text: branch.label || `Branch ${b + 1}` }),
        step.type === "branch" ? el("div", { class: "flow-summary muted", text: branch.condition ? `if ${branch.condition}` : "if … (set a condition)" }) : null,
        el("div", { class: "flow-problems" })),
        drawList(branch.steps || [], `${bp}/steps`)));
    });
    if (step.type === "branch" && Array.isArray(step.default)) {
      columns.append(el("div", { class: "flow-column otherwise" },
        el("div", { class: "flow-branch-head", "data-pointer": `${pointer}/default` },
          el("strong", { text: "Otherwise" }), el("div", { class: "flow-problems" })),
        drawList(step.default, `${pointer}/default`)));
    }
    columns.append(el("div", { class: "flow-column-add" }, el("button", {
      type: "button", class: "flow-add-branch", onclick: () => {
        const n = step.branches.length + 1;
        step.branches.push(step.type === "branch" ? { label: `Condition ${n}`, condition: "", steps: [] }
          : { label: `Branch ${n}`, steps: [] });
        changed(true);
      },
    }, "+ branch")));
    return el("div", { class: "flow-group" }, head, columns);
  }

  function draw() {
    const scroll = window.scrollY;
    canvas.replaceChildren(
      el("div", { class: "flow-list flow-root" },
        blockHead("/trigger", doc.label || "Untitled flow", triggerText(), "trigger", false)),
      drawList(doc.steps, "/steps"),
      el("div", { class: "flow-end muted" }, "End of the flow"),
    );
    showProblems();
    window.scrollTo(0, scroll);
  }

  function triggerText() {
    const t = doc.trigger || {};
    const when = { created: "when a record is created", updated: "when a record is changed", button: "by a button on the record",
      schedule: `on a schedule (${t.cron || "?"})`, api: "through the API" }[t.on] || t.on;
    return `Starts ${when}${t.condition ? ` if ${t.condition}` : ""}`;
  }

  function remove(pointer) {
    const { list, index } = parentOf(pointer);
    list.splice(index, 1);
    if (selected && selected.startsWith(pointer)) selected = null;
    changed(true);
    drawPanel();
  }

  function move(pointer, by) {
    // A step changes places with its neighbour in the same list (branches keep their steps).
    const { list, index, pointer: listPointer } = parentOf(pointer);
    const to = index + by;
    if (to < 0 || to >= list.length) return;
    const [step] = list.splice(index, 1);
    list.splice(to, 0, step);
    selected = `${listPointer}/${to}`;
    changed(true);
    drawPanel();
  }

  function select(pointer) {
    selected = pointer;
    draw();
    drawPanel();
  }

  // -- problems beside the blocks ----------------------------------------------------------
  // A problem names what it is about as the panel labels it, never by its JSON pointer
  // (/steps/0/approvers → "Approvers"; the block it sits beside says which step).
  const PROPERTY_WORDS = {
    label: "Label", id: "Id", api_name: "Name", description: "Description", active: "Active", object: "Object",
    trigger: "Starts when", on: "Trigger", cron: "Cron", condition: "Condition", approvers: "Approvers",
    assignees: "Assignees", mode: "Mode", quorum: "Quorum", share: "Share that must approve",
    count: "Number needed", on_reject: "On reject", allow_send_back: "Allow sending back",
    allow_add_approvers: "Allow adding approvers", due: "Due after", remind_every: "Remind every",
    escalate: "Escalate", after: "Escalate after", do: "Escalate", to: "Escalate to",
    lock_record: "Lock the record while it waits", editable_fields: "Still editable", action: "Action",
    duration: "Duration", until: "Until (a date formula)", until_condition: "Until (a condition)",
    target: "Go back to", outcome: "Outcome", join: "Go on when", default: "Otherwise", branches: "Branch",
    steps: "Step", role: "Role", team: "Team", user: "Person", field: "Field",
  };
  function problemWhere(field, base) {
    const rest = field.startsWith(base) ? field.slice(base.length) : field;
    const words = [];
    for (const part of rest.split("/").filter(Boolean)) {
      if (/^\d+$/.test(part)) {
        if (words.length) words[words.length - 1] += ` ${Number(part) + 1}`;
      } else {
        words.push(PROPERTY_WORDS[part] || part.charAt(0).toUpperCase() + part.slice(1).replace(/_/g, " "));
      }
    }
    return words.join(" › ");
  }
  function problemText(problem, base) {
    const where = problemWhere(problem.field || "/", base || "");
    return where ? `${where}: ${problem.message}` : problem.message;
  }

  function showProblems() {
    canvas.querySelectorAll(".flow-problems").forEach((box) => box.replaceChildren());
    canvas.querySelectorAll(".has-problem").forEach((node) => node.classList.remove("has-problem"));
    const targets = [...canvas.querySelectorAll("[data-pointer]")];
    const loose = [];
    for (const problem of problems) {
      const field = problem.field || "/";
      let best = null;
      for (const node of targets) {
        const p = node.dataset.pointer;
        if ((field === p || field.startsWith(p + "/")) && (!best || p.length > best.dataset.pointer.length)) best = node;
      }
      if (!best && /^\/(label|api_name|description|object|active)/.test(field)) best = canvas.querySelector('[data-pointer="/trigger"]');
      const line = el("p", { class: "field-error flow-problem", "data-field": field },
        problemText(problem, best && best.dataset.pointer !== "/trigger" ? best.dataset.pointer : ""));
      if (best) {
        best.classList.add("has-problem");
        best.querySelector(".flow-problems").append(line);
      } else {
        loose.push(line);
      }
    }
    const list = document.getElementById("flow-problems-loose") || el("div", { id: "flow-problems-loose" });
    list.replaceChildren(...loose);
    canvas.prepend(list);
  }

  function say(text, kind) {
    status.textContent = text;
    status.className = kind ? `flash ${kind}` : "muted";
  }

  // -- the side panel -----------------------------------------------------------------------
  function row(label, control, help) {
    const id = control.id || `fp-${Math.random().toString(36).slice(2, 8)}`;
    control.id = id;
    return el("div", { class: "flow-field" }, el("label", { for: control.labelTarget || id, text: label }), control,
      help ? el("small", { class: "muted", text: help }) : null);
  }

  function bind(input, get, set) {
    // An input bound to a property: blank removes it (optional properties stay out).
    if (input.type === "checkbox") input.checked = !!get();
    else input.value = get() ?? "";
    if (input.tagName === "SELECT" && input.selectedIndex === -1) input.selectedIndex = 0;  // the default shows first
    input.addEventListener(input.type === "checkbox" || input.tagName === "SELECT" ? "change" : "input", () => {
      set(input.type === "checkbox" ? input.checked : input.value);
      changed(false);
    });
    return input;
  }

  function setter(target, key, { keepBlank = false, number = false } = {}) {
    return (value) => {
      if (value === "" && !keepBlank) delete target[key];
      else target[key] = number ? Number(value) : value;
    };
  }

  function text(target, key, attrs, options) {
    return bind(el("input", Object.assign({ type: "text" }, attrs || {})), () => target[key], setter(target, key, options));
  }

  // A length of time typed in words ("4 hours", "2 days") and stored as ISO 8601; text that
  // is not one stays in the box with the reason beside it, and the document is not changed.
  function duration(target, key, attrs, options) {
    const input = el("input", Object.assign({ type: "text", placeholder: "e.g. 4 hours or 2 days" }, attrs || {}));
    const problem = el("small", { class: "field-error", "aria-live": "polite" });
    input.value = tesseraDurations.show(target[key]);
    input.addEventListener("input", () => {
      const read = tesseraDurations.read(input.value, options);
      problem.textContent = read.problem || "";
      input.setAttribute("aria-invalid", read.problem ? "true" : "false");
      if (read.value === null) return;
      if (read.value === "" && !(options && options.keepBlank)) delete target[key];
      else target[key] = read.value;
      changed(false);
    });
    const box = el("span", { class: "duration-input" }, input, problem);
    box.id = input.id || `fp-${Math.random().toString(36).slice(2, 8)}`;
    input.id = `${box.id}-input`;
    // row() labels the control by its id: point the label at the input itself.
    box.labelTarget = input.id;
    return box;
  }

  function choice(target, key, values, blank, attrs) {
    const select = el("select", attrs || {}, blank !== undefined ? el("option", { value: "" }, blank) : null,
      values.map((v) => Array.isArray(v) ? el("option", { value: v[0] }, v[1]) : el("option", { value: v }, v)));
    return bind(select, () => target[key], setter(target, key));
  }

  let checkTimer = null;
  function formula(target, key, expect, attrs, keepBlank) {
    const out = el("p", { class: "formula-check muted", "aria-live": "polite" });
    // data-formula-object: formulabox.js suggests the object's fields, options and functions.
    const input = el("input", Object.assign({ type: "text", class: "formula", spellcheck: "false",
                                              "data-formula-object": object }, attrs || {}));
    input.value = target[key] || "";
    const check = async () => {
      const source = input.value;
      if (!source.trim()) { out.textContent = ""; out.className = "formula-check muted"; return; }
      const response = await api("POST", "/api/v1/formula/check", { object, expression: source, expect: expect || null });
      if (input.value !== source) return;  // typed on since: a newer check is coming
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) { out.textContent = answer.detail || "The formula could not be checked."; out.className = "formula-check field-error"; return; }
      if (answer.valid) {
        out.textContent = `✓ ${answer.type}`;
        out.className = "formula-check ok";
      } else {
        out.textContent = (answer.errors || []).map((e) => (e.column ? `column ${e.column}: ` : "") + e.message).join("\n");
        out.className = "formula-check field-error";
      }
    };
    input.addEventListener("input", () => {
      if (input.value === "" && !keepBlank) delete target[key];
      else target[key] = input.value;
      changed(false);
      clearTimeout(checkTimer);
      checkTimer = setTimeout(check, 250);
    });
    if (input.value) setTimeout(check, 0);
    if (!input.id) input.id = `ff-${key}-${Math.random().toString(36).slice(2, 8)}`;
    out.id = `${input.id}-check`;
    input.setAttribute("aria-describedby", out.id);
    return { input, box: el("div", { class: "formula-box" }, input, out) };
  }

  function formulaRow(label, target, key, expect, help, keepBlank) {
    const { input, box } = formula(target, key, expect, { id: `fp-${key}` }, keepBlank);
    return el("div", { class: "flow-field" }, el("label", { for: input.id, text: label }), box,
      help ? el("small", { class: "muted", text: help }) : null);
  }

  function people(target, key, title) {
    const list = target[key] || (target[key] = []);
    const box = el("fieldset", { class: "flow-people", "data-people": key }, el("legend", { text: title }));
    list.forEach((person, index) => {
      const kind = Object.keys(person).find((k) => k !== "levels") || "user";
      const kindSelect = el("select", { "aria-label": "Who", class: "person-kind" },
        PEOPLE_KINDS.map((k) => el("option", { value: k, selected: k === kind }, k)));
      kindSelect.addEventListener("change", () => {
        list[index] = { [kindSelect.value]: kindSelect.value === "manager" ? "submitter" : "" };
        changed(false);
        drawPanel();
      });
      let value;
      if (kind === "role" || kind === "team") {
        const names = kind === "role" ? setup.roles : setup.teams;
        value = choice(person, kind, names, `choose a ${kind}`, { "aria-label": kind, class: "person-value" });
      } else if (kind === "field") {
        value = choice(person, kind, setup.fields.filter((f) => f.type === "user").map((f) => [f.api_name, f.label]),
          "choose a user field", { "aria-label": "field", class: "person-value" });
      } else if (kind === "manager") {
        value = el("span", { class: "person-manager" },
          choice(person, "manager", [["submitter", "the submitter"],
            // An escalation may go to the manager of whoever holds the task.
            ...(key === "to" ? [["approver", "the approver"]] : []),
            ...setup.fields.filter((f) => f.type === "user").map((f) => [f.api_name, f.label])],
            undefined, { "aria-label": "manager of" }),
          bind(el("input", { type: "number", min: "1", max: "10", "aria-label": "levels up", class: "levels" }),
            () => person.levels, setter(person, "levels", { number: true })));
      } else if (kind === "formula") {
        value = formula(person, "formula", null, { "aria-label": "formula", class: "person-value formula" }, true).box;
      } else {
        value = text(person, "user", { type: "email", "aria-label": "e-mail", placeholder: "ann@example.com", class: "person-value" });
      }
      box.append(el("div", { class: "person-row" }, kindSelect, value, el("button", {
        type: "button", class: "link", "aria-label": "Remove this person",
        onclick: () => { list.splice(index, 1); changed(false); drawPanel(); },
      }, "×")));
    });
    box.append(el("button", {
      type: "button", class: "flow-add-person", onclick: () => { list.push({ role: "" }); changed(false); drawPanel(); },
    }, "+ person"));
    return box;
  }

  function checkbox(label, target, key, defaultOn) {
    const input = el("input", { type: "checkbox" });
    input.checked = key in target ? !!target[key] : !!defaultOn;
    input.addEventListener("change", () => {
      if (input.checked === !!defaultOn) delete target[key];
      else target[key] = input.checked;
      changed(false);
      if (key === "lock_record") drawPanel();
    });
    return el("label", { class: "flow-check" }, input, ` ${label}`);
  }

  function timing(step) {
    const parts = [
      row("Due after", duration(step, "due"), "e.g. 1 day, 4 hours, 2 days 4 hours"),
      row("Remind every", duration(step, "remind_every")),
    ];
    const escalate = step.escalate || {};
    const doSelect = el("select", {}, [["", "never"], ["notify", "notify someone"], ["reassign", "reassign the task"],
      ["auto_approve", "approve automatically"], ["auto_reject", "reject automatically"]].map(([v, l]) =>
      el("option", { value: v, selected: (escalate.do || "") === v }, l)));
    doSelect.addEventListener("change", () => {
      if (!doSelect.value) delete step.escalate;
      else step.escalate = Object.assign({ after: "P2D" }, step.escalate || {}, { do: doSelect.value });
      changed(false);
      drawPanel();
    });
    parts.push(row("Escalate", doSelect));
    if (step.escalate) {
      parts.push(row("Escalate after", duration(step.escalate, "after")));
      if (["notify", "reassign"].includes(step.escalate.do)) parts.push(people(step.escalate, "to", "Escalate to"));
    }
    parts.push(checkbox("Lock the record while it waits", step, "lock_record", false));
    if (step.lock_record) {
      const fields = el("fieldset", { class: "flow-editable" }, el("legend", { text: "Still editable" }),
        setup.fields.map((f) => {
          const input = el("input", { type: "checkbox", value: f.api_name });
          input.checked = (step.editable_fields || []).includes(f.api_name);
          input.addEventListener("change", () => {
            const chosen = new Set(step.editable_fields || []);
            if (input.checked) chosen.add(f.api_name); else chosen.delete(f.api_name);
            if (chosen.size) step.editable_fields = [...chosen]; else delete step.editable_fields;
            changed(false);
          });
          return el("label", { class: "flow-check" }, input, ` ${f.label}`);
        }));
      parts.push(fields);
    }
    parts.push(row("If nobody is found", choice(step, "if_nobody", [["fail", "stop with an error"], ["skip", "skip the step"]], "stop with an error (default)")));
    parts.push(checkbox("Allow delegating", step, "allow_delegate", true));
    return parts;
  }

  function stepPanel(step, pointer) {
    const parts = [
      el("h2", { text: `${TYPE_LABELS[step.type]} step` }),
      row("Label", text(step, "label", { id: "fp-label" })),
      row("Id", text(step, "id", { id: "fp-id", pattern: "[A-Za-z][A-Za-z0-9_-]*" }, { keepBlank: true }), "never change it once the flow runs"),
    ];
    if (step.type === "approval") {
      parts.push(people(step, "approvers", "Approvers"));
      const mode = choice(step, "mode", [["all", "everyone must approve"], ["any", "the first answer decides"],
        ["quorum", "a quorum"], ["sequence", "one after another"]], undefined, { id: "fp-mode" });
      mode.addEventListener("change", () => {
        if (mode.value === "quorum") step.quorum = step.quorum || { count: 2 }; else delete step.quorum;
        if (mode.value === "all") delete step.mode;
        drawPanel();
      });
      parts.push(row("Mode", mode));
      if (step.mode === "quorum") {
        // N of M, or a share of them (Camunda's completion condition): half of 3 approvers is 2.
        const byShare = "share" in (step.quorum || {});
        const how = el("select", { id: "fp-quorum-kind" }, [["count", "a number of them"], ["share", "a share of them"]]
          .map(([v, l]) => el("option", { value: v, selected: (v === "share") === byShare }, l)));
        how.addEventListener("change", () => {
          step.quorum = how.value === "share" ? { share: 0.5 } : { count: 2 };
          changed(false);
          drawPanel();
        });
        parts.push(row("Quorum", how));
        if (byShare) {
          // A share is typed and shown as a percentage (60 %); the document keeps 0.6.
          const percent = bind(el("input", { type: "number", min: "1", max: "100", step: "1", id: "fp-quorum-share" }),
            () => Math.round(step.quorum.share * 10000) / 100,
            (v) => { step.quorum = { share: Math.min(1, Math.max(0.01, (Number(v) || 50) / 100)) }; });
          const box = el("span", { class: "percent-input" }, percent, el("span", { "aria-hidden": "true", text: "%" }));
          box.labelTarget = percent.id;
          parts.push(row("Share that must approve", box, "a percentage: 50 % of 3 approvers is 2"));
        } else {
          parts.push(row("Approvals needed", bind(el("input", { type: "number", min: "1", id: "fp-quorum" }),
            () => step.quorum.count, (v) => { step.quorum = { count: Number(v) || 1 }; })));
        }
      }
      parts.push(row("On reject", choice(step, "on_reject", [["end", "the flow ends rejected"], ["continue", "go on to the next step"]], undefined)));
      parts.push(checkbox("Allow sending back", step, "allow_send_back", true));
      parts.push(checkbox("Allow adding approvers", step, "allow_add_approvers", true));
      parts.push(...timing(step));
    } else if (step.type === "task") {
      parts.push(people(step, "assignees", "Assignees"));
      parts.push(row("Done when", choice(step, "mode", [["any", "one of them completes it"], ["all", "each of them completes it"]], undefined)));
      parts.push(...timing(step));
    } else if (step.type === "action") {
      const kinds = Object.entries(setup.actions).map(([k, v]) => [k, v.label]);
      const kind = choice(step, "action", kinds, undefined, { id: "fp-action" });
      const params = el("textarea", { id: "fp-params", rows: "6", class: "formula", spellcheck: "false" });
      const paramsOf = () => Object.fromEntries(Object.entries(step).filter(([k]) => !["id", "type", "label", "description", "action"].includes(k)));
      params.value = JSON.stringify(paramsOf(), null, 2);
      const out = el("p", { class: "muted" });
      const hint = () => { const a = setup.actions[step.action] || { params: [] }; return `Parameters: ${a.params.join(", ")}`; };
      out.textContent = hint();
      params.addEventListener("input", () => {
        let value;
        try { value = JSON.parse(params.value || "{}"); } catch (error) { out.textContent = `Not JSON: ${error.message}`; out.className = "field-error"; return; }
        if (typeof value !== "object" || Array.isArray(value) || value === null) { out.textContent = "Give an object of parameters."; out.className = "field-error"; return; }
        for (const k of Object.keys(paramsOf())) delete step[k];
        Object.assign(step, value);
        out.textContent = hint();
        out.className = "muted";
        changed(false);
      });
      kind.addEventListener("change", () => { out.textContent = hint(); });
      parts.push(row("Action", kind), row("Parameters (JSON)", params), out);
    } else if (step.type === "wait") {
      // Which kind of wait is by the key the step holds, not its value: a freshly chosen
      // "until a date" is still blank and must stay chosen while the formula is typed.
      const which = "until" in step ? "until" : "until_condition" in step ? "until_condition" : "duration";
      const mode = el("select", { id: "fp-wait" }, [["duration", "for a while"], ["until", "until a date"], ["until_condition", "until a condition holds"]]
        .map(([v, l]) => el("option", { value: v, selected: v === which }, l)));
      mode.addEventListener("change", () => {
        delete step.duration; delete step.until; delete step.until_condition;
        step[mode.value] = mode.value === "duration" ? "P1D" : "";
        changed(false);
        drawPanel();
      });
      parts.push(row("Wait", mode));
      if (which === "duration") parts.push(row("Duration", duration(step, "duration", {}, { keepBlank: true })));
      if (which === "until") parts.push(formulaRow("Until (a date formula)", step, "until", null, "", true));
      if (which === "until_condition") parts.push(formulaRow("Until (a condition)", step, "until_condition", "boolean", "", true));
    } else if (step.type === "goto") {
      const targets = targetNames().map(([id, name]) => [id, name]);
      parts.push(row("Go back to", choice(step, "target", targets, "choose a step", { id: "fp-target" })));
    } else if (step.type === "end") {
      parts.push(row("Outcome", choice(step, "outcome", ["approved", "rejected", "cancelled", "completed"], undefined, { id: "fp-outcome" })));
    } else if (step.type === "branch") {
      parts.push(el("p", { class: "muted", text: "Branches are tried left to right; the first whose condition is true runs, else Otherwise. Click a branch's head to set its condition." }));
      const otherwise = el("input", { type: "checkbox", id: "fp-otherwise" });
      otherwise.checked = Array.isArray(step.default);
      otherwise.addEventListener("change", () => {
        if (otherwise.checked) step.default = step.default || []; else delete step.default;
        changed(true);
      });
      parts.push(el("label", { class: "flow-check" }, otherwise, " Has an “Otherwise” column"));
    } else if (step.type === "parallel") {
      const join = el("select", { id: "fp-join" }, [["all", "every branch finished"], ["any", "the first branch finished"], ["count", "a number of branches finished"]]
        .map(([v, l]) => el("option", { value: v, selected: (typeof step.join === "object" ? "count" : step.join || "all") === v }, l)));
      join.addEventListener("change", () => {
        if (join.value === "all") delete step.join; else step.join = join.value === "count" ? { count: 1 } : join.value;
        changed(false);
        drawPanel();
      });
      parts.push(row("Go on when", join));
      if (typeof step.join === "object") parts.push(row("Branches needed", bind(el("input", { type: "number", min: "1" }), () => step.join.count, (v) => { step.join = { count: Number(v) || 1 }; })));
    }
    const { list, index } = parentOf(pointer);
    parts.push(el("div", { class: "flow-move" },
      el("button", { type: "button", id: "fp-move-up", disabled: index === 0, onclick: () => move(pointer, -1) }, "Move up"),
      el("button", { type: "button", id: "fp-move-down", disabled: index === list.length - 1, onclick: () => move(pointer, 1) }, "Move down")));
    parts.push(el("button", { type: "button", class: "danger", onclick: () => remove(pointer) }, "Remove this step"));
    return parts;
  }

  function branchPanel(pointer) {
    const branch = at(pointer);
    const step = at(pointer.replace(/\/branches\/\d+$/, ""));
    const parts = [el("h2", { text: step.type === "branch" ? "Branch" : "Parallel branch" }),
      row("Label", text(branch, "label", { id: "fp-branch-label" }))];
    if (step.type === "branch") parts.push(formulaRow("Condition", branch, "condition", "boolean", "a formula that gives true or false", true));
    parts.push(el("button", {
      type: "button", class: "danger", onclick: () => {
        const { list, index } = parentOf(pointer);
        list.splice(index, 1);
        selected = null;
        changed(true);
        drawPanel();
      },
    }, "Remove this branch"));
    return parts;
  }

  function triggerPanel() {
    const t = doc.trigger || (doc.trigger = { on: "button" });
    const label = text(doc, "label", { id: "fp-flow-label", required: true });
    const apiName = text(doc, "api_name", { id: "fp-flow-name", pattern: "[a-z][a-z0-9_]*", disabled: !isNew }, { keepBlank: true });
    label.addEventListener("input", () => {
      if (isNew && !nameTouched) {
        doc.api_name = label.value.trim().toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "").replace(/^(\d)/, "x_$1").slice(0, 63);
        apiName.value = doc.api_name;
      }
    });
    apiName.addEventListener("input", () => { nameTouched = true; });
    const on = choice(t, "on", [["button", "a button on the record"], ["created", "a record is created"], ["updated", "a record is changed"],
      ["schedule", "a schedule"], ["api", "the API"]], undefined, { id: "fp-trigger-on" });
    on.addEventListener("change", () => {
      if (t.on !== "schedule") delete t.cron; else t.cron = t.cron || "0 8 * * 1";
      if (t.on !== "updated") delete t.changed;
      drawPanel();
    });
    const parts = [el("h2", { text: "The flow" }), row("Label", label), row("Name", apiName, isNew ? "derived from the label; fixed once saved" : "fixed"),
      row("Description", text(doc, "description")), checkbox("Active (starts at all)", doc, "active", true),
      el("h3", { text: "Starts when" }), row("Trigger", on),
      formulaRow("Only if (condition)", t, "condition", "boolean", "optional: a formula that must be true")];
    if (t.on === "schedule") parts.push(row("Cron", text(t, "cron", { placeholder: "0 8 * * 1" }), "five fields: 0 8 * * 1 is 8:00 every Monday"));
    if (t.on === "updated") {
      parts.push(el("fieldset", { class: "flow-editable" }, el("legend", { text: "Only when one of these changed" }),
        setup.fields.map((f) => {
          const input = el("input", { type: "checkbox" });
          input.checked = (t.changed || []).includes(f.api_name);
          input.addEventListener("change", () => {
            const chosen = new Set(t.changed || []);
            if (input.checked) chosen.add(f.api_name); else chosen.delete(f.api_name);
            if (chosen.size) t.changed = [...chosen]; else delete t.changed;
            changed(false);
          });
          return el("label", { class: "flow-check" }, input, ` ${f.label}`);
        })));
    }
    return parts;
  }

  function drawPanel() {
    if (!selected || at(selected) === undefined) {
      selected = null;
      panel.replaceChildren(el("p", { class: "muted", text: "Select a block to set it up." }));
      return;
    }
    let parts;
    if (selected === "/trigger") parts = triggerPanel();
    else if (/\/branches\/\d+$/.test(selected)) parts = branchPanel(selected);
    else parts = stepPanel(at(selected), selected);
    const mine = problems.filter((p) => (p.field || "").startsWith(selected));
    panel.replaceChildren(el("div", { class: "stack", "data-selected": selected }, ...parts,
      mine.length ? el("div", { class: "panel-problems" }, mine.map((p) => el("p", { class: "field-error", text: problemText(p, selected) }))) : null));
  }

  // -- talking to the server -----------------------------------------------------------------
  function api(method, url, body, headers) {
    const token = document.querySelector('meta[name="csrf-token"]');
    return fetch(url, {
      method, credentials: "same-origin",
      headers: Object.assign({ "Content-Type": "application/json", Accept: "application/json" },
        token ? { "X-CSRF-Token": token.content } : {}, headers || {}),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  function refused(answer, what) {
    problems = answer.errors || [];
    draw();
    drawPanel();
    say(`${what}: ${answer.detail || "refused"}${problems.length ? ` (${problems.length} problem${problems.length === 1 ? "" : "s"} shown beside the blocks)` : ""}`, "error");
  }

  async function save() {
    let response;
    if (isNew) {
      response = await api("POST", "/api/v1/meta/flows", doc);
    } else {
      const body = Object.assign({}, doc);
      for (const key of savedKeys) if (!(key in body)) body[key] = null;
      response = await api("PATCH", `/api/v1/meta/flows/${encodeURIComponent(name)}`, body, { "If-Match": `"${version}"` });
    }
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      refused(answer, "Not saved");
      return false;
    }
    version = answer.version;
    name = answer.api_name;
    savedKeys = new Set(Object.keys(doc));
    if (isNew) {
      isNew = false;
      history.replaceState(null, "", `/builder/flows/${encodeURIComponent(name)}`);
      const title = document.getElementById("flow-title");
      if (title) title.textContent = `Flow: ${doc.label}`;
    }
    dirty = false;
    problems = [];
    draw();
    drawPanel();
    say(`Saved (version ${version}).`, "ok");
    return true;
  }

  async function validate() {
    const response = await api("POST", "/api/v1/flows/check", doc);
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) { refused(answer, "Could not validate"); return false; }
    problems = answer.problems || [];
    draw();
    drawPanel();
    if (problems.length) say(`${problems.length} problem${problems.length === 1 ? "" : "s"}: see the blocks marked in red.`, "error");
    else say("No problems: the flow can be published.", "ok");
    return !problems.length;
  }

  async function publish() {
    if ((dirty || isNew) && !(await save())) return;
    const response = await api("POST", `/api/v1/flows/${encodeURIComponent(name)}/publish`);
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) { refused(answer, "Not published"); return; }
    say(`Published: version ${answer.version}. New requests run it; running ones keep theirs.`, "ok");
  }

  function busy(button, work) {
    button.addEventListener("click", async () => {
      button.disabled = true;
      try { await work(); } catch (error) { say(`Something went wrong: ${error.message}`, "error"); } finally { button.disabled = false; }
    });
  }
  busy(document.getElementById("flow-save"), save);
  busy(document.getElementById("flow-validate"), validate);
  busy(document.getElementById("flow-publish"), publish);
  window.addEventListener("beforeunload", (event) => { if (dirty && !isNew) event.preventDefault(); });

  draw();
  if (isNew) select("/trigger");
})();
