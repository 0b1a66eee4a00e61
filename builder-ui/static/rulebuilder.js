// The rule, business calendar and SLA policy builders (Alpine.js components), and the
// rules list's active switch. Each page carries its design as JSON (the stored document,
// the objects and their fields, teams, calendars…); the components edit a plain model of
// the document and save it through the metadata API (POST, or PATCH with the version).
// Problems the API returns are JSON pointers (`/actions/0/set/amount`), shown beside the
// input whose `data-problem` is the pointer or, failing that, the closest parent pointer.
// Nothing is evaluated here: condition rows are turned into a formula by the server
// (`/builder/rules/condition-formula`) and every formula is checked by the server
// (`/api/v1/formula/check`) as it is typed.
(function () {
  const ORDERED = ["number", "date", "datetime", "duration"];
  const EXPECTABLE = ["text", "number", "boolean", "date", "datetime", "duration", "list", "record"];
  const UNPICKABLE = ["json", "rich_text", "attachment"];
  const PEOPLE = ["field", "user", "role", "team", "email", "manager", "formula"];
  let design = { objects: [] };

  // -- talking to the server ---------------------------------------------------------------
  function headers() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return Object.assign({ "Content-Type": "application/json" }, meta ? { "X-CSRF-Token": meta.content } : {});
  }

  async function send(method, url, body) {
    const response = await fetch(url, { method, headers: headers(), body: body === undefined ? undefined : JSON.stringify(body) });
    let answer = {};
    try { answer = await response.json(); } catch { answer = { detail: `The server answered ${response.status}.` }; }
    return { ok: response.ok, status: response.status, answer };
  }

  // Condition rows become a formula on the server a moment after they change, and formulas
  // are checked a moment after they are typed. Saving or checking first runs what is waiting
  // and waits for the answers: a rule saved right after a row was picked keeps that row.
  const waiting = new Set();
  const inflight = new Set();

  function track(result) {
    if (!result || typeof result.then !== "function") return;
    inflight.add(result);
    result.finally(() => inflight.delete(result));
  }

  function debounce(fn, ms) {
    let timer = null;
    let queued = [];
    const fire = () => {
      clearTimeout(timer);
      waiting.delete(fire);
      track(fn(...queued));
    };
    return (...args) => {
      queued = args;
      clearTimeout(timer);
      timer = setTimeout(fire, ms);
      waiting.add(fire);
    };
  }

  async function settle() {
    for (let round = 0; round < 5 && (waiting.size || inflight.size); round += 1) {
      [...waiting].forEach((fire) => fire());
      await Promise.allSettled([...inflight]);
      await new Promise((resolve) => setTimeout(resolve));  // x-model hands the formula on
    }
  }

  async function checkFormula(object, expression, expect) {
    if (!object || !expression || !expression.trim()) return { ok: true, text: "" };
    const { ok, answer } = await send("POST", "/api/v1/formula/check",
                                      { object, expression, expect: expect || null });
    if (!ok) return { ok: false, text: answer.detail || "The formula could not be checked." };
    if (answer.valid) return { ok: true, text: `✓ ${answer.type}` };
    return { ok: false, text: (answer.errors || []).map((e) => e.message).join("\n") };
  }

  // -- the design ---------------------------------------------------------------------------
  const objectOf = (name) => design.objects.find((o) => o.api_name === name) || { api_name: name, label: name, fields: [] };
  const fieldsOf = (name) => objectOf(name).fields;
  const fieldOf = (object, name) => fieldsOf(object).find((f) => f.api_name === name);
  const expectOf = (object, name) => {
    const f = fieldOf(object, name);
    return f && EXPECTABLE.includes(f.ftype) ? f.ftype : null;
  };
  const slug = (label) => label.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "").replace(/^(\d)/, "x_$1").slice(0, 63);
  const trim = (v) => (v === null || v === undefined ? "" : String(v).trim());
  const copy = (v) => JSON.parse(JSON.stringify(v));

  // -- problems beside the inputs -------------------------------------------------------------
  // The shared part of the three builders: a model of problems by pointer, the status line,
  // and saving through the metadata API.
  function page(kind, stored) {
    return {
      problems: {},
      status: "",
      statusKind: "",
      saving: false,
      isNew: !stored,
      original: stored ? stored.api_name : null,
      version: stored ? stored.version : null,
      stored: stored || {},

      problemAt(pointer) { return (this.problems[pointer] || []).join("; "); },

      place(errors) {
        const root = this.$root;
        const placed = {};
        const loose = [];
        for (const error of errors || []) {
          let pointer = error.field || "/";
          if (pointer && !pointer.startsWith("/")) pointer = "/" + pointer;
          let target = null;
          while (pointer) {
            if (root.querySelector(`[data-problem="${CSS.escape(pointer)}"]`)) { target = pointer; break; }
            pointer = pointer.slice(0, pointer.lastIndexOf("/"));
          }
          if (target) (placed[target] = placed[target] || []).push(error.message);
          else loose.push(`${error.field || ""} ${error.message}`.trim());
        }
        this.problems = placed;
        return loose;
      },

      report(answer) {
        const loose = this.place(answer.errors);
        const placed = Object.keys(this.problems).length;
        const where = placed ? ` See the ${placed === 1 ? "message" : `${placed} messages`} beside the fields.` : "";
        this.status = [(answer.detail || "Not saved.") + where, ...loose].join(" ");
        this.statusKind = "error";
      },

      async check() {
        await settle();
        const { ok, answer } = await send("POST", `/api/v1/meta/${kind}/check`, this.toDocument());
        if (!ok) { this.report(answer); return; }
        if (answer.valid) {
          this.problems = {};
          this.status = "No problems found.";
          this.statusKind = "ok";
        } else {
          this.report({ detail: "Problems to fix:", errors: answer.errors });
        }
      },

      async save() {
        this.saving = true;
        await settle();
        const doc = this.toDocument();
        let result;
        if (this.isNew) {
          result = await send("POST", `/api/v1/meta/${kind}`, doc);
        } else {
          // Removing an optional part is a change too: null removes a property.
          for (const key of Object.keys(this.stored)) {
            if (!(key in doc) && !["uid", "version"].includes(key)) doc[key] = null;
          }
          doc.version = this.version;
          result = await send("PATCH", `/api/v1/meta/${kind}/${this.original}`, doc);
        }
        this.saving = false;
        if (!result.ok) { this.report(result.answer); return; }
        const saved = result.answer;
        this.problems = {};
        this.stored = saved;
        this.version = saved.version;
        this.original = saved.api_name;
        this.isNew = false;
        this.doc.api_name = saved.api_name;
        this.status = `Saved (version ${saved.version}).`;
        this.statusKind = "ok";
        const here = this.$root.dataset.base + saved.api_name;
        if (window.location.pathname !== here) window.history.replaceState(null, "", here);
      },
    };
  }

  // -- a condition: rows of field / operator / value, or a formula ---------------------------
  // `getObject` gives the object the condition is about; `allowChanged` whether "changed"
  // applies (save triggers only). The formula is the component's model (x-modelable).
  function conditionEditor(getObject, allowChanged) {
    return {
      mode: "builder",
      join: "AND",
      rows: [],
      formula: "",
      checkText: "",
      checkOk: true,
      rowsError: "",
      // Own properties, so that assigning them in init() does not land on an outer scope.
      rebuild: null,
      recheck: null,
      init() {
        this.rebuild = debounce(() => this.build(), 200);
        this.recheck = debounce(() => this.runCheck(), 250);
        // x-modelable hands over the outer value in a microtask: look at it after that.
        setTimeout(() => {
          if (trim(this.formula)) this.mode = "formula";
          if (!this.rows.length) this.rows.push(this.blankRow());
          this.recheck();
        });
      },
      fields() { return fieldsOf(getObject()).filter((f) => !UNPICKABLE.includes(f.type)); },
      field(name) { return fieldOf(getObject(), name) || { ftype: "text", options: [] }; },
      operators(row) {
        const t = this.field(row.field).ftype;
        let ops = ["equals", "not_equals"];
        if (ORDERED.includes(t)) ops = ops.concat(["greater", "less", "at_least", "at_most"]);
        if (t === "text" || t === "list") ops.push("contains");
        if (t === "list") ops = ["contains"];
        ops = ops.concat(["blank", "not_blank"]);
        if (allowChanged && allowChanged()) ops.push("changed");
        return ops.map((op) => ({ op, label: design.operators[op] || op }));
      },
      needsValue(row) { return !["blank", "not_blank", "changed"].includes(row.op); },
      valueKind(row) {
        const f = this.field(row.field);
        if (f.options && f.options.length) return "options";
        if (f.ftype === "boolean") return "boolean";
        if (f.ftype === "date" || f.ftype === "datetime") return "date";
        if (f.ftype === "number") return "number";
        return "text";
      },
      blankRow() {
        const first = this.fields()[0];
        return { field: first ? first.api_name : "", op: "equals", value: "" };
      },
      fieldChanged(row) {
        if (!this.operators(row).some((o) => o.op === row.op)) row.op = this.operators(row)[0].op;
        row.value = this.valueKind(row) === "boolean" ? "TRUE" : "";
        this.rebuild();
      },
      addRow() { this.rows.push(this.blankRow()); this.rebuild(); },
      removeRow(i) { this.rows.splice(i, 1); this.rebuild(); },
      setMode(mode) {
        this.mode = mode;
        // Back to the rows: a formula typed by hand stays until a row says something.
        if (mode === "builder" && this.rows.some((r) => r.field && (!this.needsValue(r) || trim(r.value) !== ""))) {
          this.rebuild();
        }
        // The button clicked has just been hidden: the caret goes where the person goes on
        // typing (the formula box), or to the button that brings the formula back.
        this.$nextTick(() => {
          const target = mode === "formula" ? this.$root.querySelector("textarea")
            : [...this.$root.querySelectorAll(".condition-head button")].find((b) => b.offsetParent !== null);
          if (target) target.focus();
        });
      },
      async build() {
        const rows = this.rows.filter((r) => r.field && (!this.needsValue(r) || trim(r.value) !== ""));
        if (!rows.length) { this.formula = ""; this.rowsError = ""; this.recheck(); return; }
        const { ok, answer } = await send("POST", "/builder/rules/condition-formula",
                                          { object: getObject(), join: this.join, rows });
        if (!ok) { this.rowsError = answer.errors && answer.errors.length ? answer.errors[0].message : answer.detail; return; }
        this.rowsError = "";
        this.formula = answer.formula;
        this.recheck();
      },
      typed() { this.recheck(); },
      async runCheck() {
        const result = await checkFormula(getObject(), this.formula, "boolean");
        this.checkText = result.text;
        this.checkOk = result.ok;
      },
    };
  }

  // -- one formula input checked as it is typed ------------------------------------------------
  function formulaInput(getObject, getExpect) {
    return {
      text: "",
      checkText: "",
      checkOk: true,
      recheck: null,
      init() {
        this.recheck = debounce(() => this.runCheck(), 250);
        setTimeout(() => this.recheck());
      },
      async runCheck() {
        const result = await checkFormula(getObject(), this.text, getExpect ? getExpect() : null);
        this.checkText = result.text;
        this.checkOk = result.ok;
      },
    };
  }

  // -- people: who an e-mail or a notification is for ---------------------------------------
  function peopleModel(specs) {
    return (specs || []).map((spec) => {
      const kind = PEOPLE.find((k) => k in spec) || "field";
      return { kind, value: String(spec[kind] ?? ""), levels: spec.levels || null };
    });
  }

  function peopleDocument(rows) {
    return rows.filter((r) => trim(r.value)).map((r) => {
      const out = { [r.kind]: trim(r.value) };
      if (r.kind === "manager" && r.levels) out.levels = Number(r.levels);
      return out;
    });
  }

  // -- rules ------------------------------------------------------------------------------------
  function setRows(set) { return Object.entries(set || {}).map(([field, value]) => ({ field, value })); }
  function setDocument(rows) {
    const out = {};
    rows.filter((r) => r.field).forEach((r) => { out[r.field] = r.value; });
    return out;
  }

  function actionModel(a) {
    const base = { action: a.action, label: a.label || "" };
    switch (a.action) {
      case "set_fields": case "update_record": return Object.assign(base, { rows: setRows(a.set) });
      case "refuse": return Object.assign(base, { message: a.message || "", field: a.field || "" });
      case "create_record": return Object.assign(base, { object: a.object || "", rows: setRows(a.values) });
      case "send_email": return Object.assign(base, { to: peopleModel(a.to), subject: a.subject || "", body: a.body || "" });
      case "notify": return Object.assign(base, { to: peopleModel(a.to), title: a.title || "", body: a.body || "" });
      case "webhook": return Object.assign(base, { url: a.url || "", method: a.method || "POST" });
      default: {
        const rest = Object.assign({}, a);
        delete rest.action;
        return Object.assign(base, { raw: JSON.stringify(rest, null, 2) });
      }
    }
  }

  function actionDocument(m) {
    const out = { action: m.action };
    switch (m.action) {
      case "set_fields": case "update_record": out.set = setDocument(m.rows); break;
      case "refuse": out.message = m.message; if (m.field) out.field = m.field; break;
      case "create_record": out.object = m.object; out.values = setDocument(m.rows); break;
      case "send_email": out.to = peopleDocument(m.to); out.subject = m.subject; out.body = m.body; break;
      case "notify": out.to = peopleDocument(m.to); out.title = m.title; if (trim(m.body)) out.body = m.body; break;
      case "webhook": out.url = trim(m.url); if (m.method && m.method !== "POST") out.method = m.method; break;
      default:
        try { Object.assign(out, JSON.parse(m.raw || "{}")); } catch { out.invalid_json = m.raw; }
    }
    if (trim(m.label) && m.action !== "set_fields" && m.action !== "refuse") out.label = trim(m.label);
    return out;
  }

  function newAction(kind, object) {
    const first = fieldsOf(object).find((f) => f.writable);
    switch (kind) {
      case "set_fields": case "update_record": return actionModel({ action: kind, set: first ? { [first.api_name]: "" } : {} });
      case "refuse": return actionModel({ action: kind, message: "" });
      case "create_record": return actionModel({ action: kind, object, values: {} });
      case "send_email": return actionModel({ action: kind, to: [{ field: "owner" }], subject: "", body: "" });
      case "notify": return actionModel({ action: kind, to: [{ field: "owner" }], title: "" });
      case "webhook": return actionModel({ action: kind, url: "https://" });
      default: return actionModel({ action: kind });
    }
  }

  function offsetModel(o) {
    const units = Object.entries(o).filter(([, v]) => v);
    if (units.length === 1) return { amount: Math.abs(units[0][1]), unit: units[0][0], before: units[0][1] < 0 };
    const minutes = (o.days || 0) * 1440 + (o.hours || 0) * 60 + (o.minutes || 0);
    return { amount: Math.abs(minutes), unit: "minutes", before: minutes < 0 };
  }

  function ruleModel(doc, object) {
    doc = doc || {};
    const t = doc.trigger || { on: "before_save" };
    const a = doc.assignment || {};
    const s = doc.scoring || {};
    const g = doc.segment || {};
    return {
      api_name: doc.api_name || "", label: doc.label || "", description: doc.description || "",
      object: doc.object || object || (design.objects[0] || {}).api_name || "",
      kind: doc.kind || "automation", active: doc.active !== false, order: doc.order || 0,
      trigger: {
        on: t.on || "before_save", when: t.when || "created_or_updated", changed: t.changed || [],
        cron: t.cron || "0 8 * * 1-5", timezone: t.timezone || "", field: t.field || "",
        offsets: (t.offsets || [{ days: -1 }]).map(offsetModel), at: t.at || "",
        event: t.event || "flow.finished", source: t.source || "",
      },
      condition: doc.condition || "",
      actions: (doc.actions || []).map(actionModel),
      assignment: { field: a.field || "owner", team: a.team || (design.teams[0] || {}).api_name || "",
                    strategy: a.strategy || "round_robin", attribute: a.attribute || "",
                    member_attribute: a.member_attribute || "", open_condition: a.open_condition || "" },
      scoring: { field: s.field || "", rules: (s.rules || []).map((r) => ({ when: r.when, points: r.points, label: r.label || "" })) },
      segment: { condition: g.condition || "", field: g.field || "" },
    };
  }

  const CRON_PRESETS = [
    { cron: "*/15 * * * *", label: "Every 15 minutes" },
    { cron: "0 * * * *", label: "Every hour" },
    { cron: "0 8 * * *", label: "Every day at 08:00" },
    { cron: "0 8 * * 1-5", label: "Weekdays at 08:00" },
    { cron: "0 9 * * 1", label: "Mondays at 09:00" },
    { cron: "0 8 1 * *", label: "The 1st of every month at 08:00" },
    { cron: "0 0 1 1 *", label: "Every 1 January at midnight" },
  ];

  const ACTIONS = [
    { action: "set_fields", label: "Set fields" }, { action: "refuse", label: "Refuse the save" },
    { action: "update_record", label: "Update the record" }, { action: "create_record", label: "Create a record" },
    { action: "send_email", label: "Send an e-mail" }, { action: "notify", label: "Notify in the app" },
    { action: "webhook", label: "Call a webhook" },
  ];

  function ruleBuilder() {
    const stored = design.doc;
    return Object.assign(page("rules", stored), {
      d: design,
      doc: ruleModel(stored, design.object),
      cronPresets: CRON_PRESETS,
      actionKinds: ACTIONS,
      newActionKind: "set_fields",

      notes: [],
      init() {
        // What an assignment will do (who takes turns, what is left unassigned), from the
        // server, as its team, strategy and field change.
        const refresh = debounce(() => this.loadNotes(), 250);
        this.fitTrigger();
        this.$watch("doc.assignment", refresh);
        this.$watch("doc.kind", () => { this.fitTrigger(); refresh(); });
        refresh();
      },
      noteAt(pointer) { return this.notes.filter((n) => n.field === pointer); },
      async loadNotes() {
        if (this.doc.kind !== "assignment") { this.notes = []; return; }
        const { ok, answer } = await send("POST", "/builder/rules/assignment-notes", this.toDocument());
        this.notes = ok ? answer.notes || [] : [];
      },
      // A segment follows its records as they change, and can be refreshed on a schedule
      // too; the other triggers mean nothing to it.
      fitTrigger() {
        if (this.doc.kind === "segment" && !["after_save", "schedule"].includes(this.doc.trigger.on)) {
          this.doc.trigger.on = "after_save";
        }
      },
      triggerChoices() {
        const all = [
          { on: "before_save", label: "Before save (inside the save: set fields or refuse)" },
          { on: "after_save", label: "After save (once saved: e-mails, webhooks, other records)" },
          { on: "schedule", label: "On a schedule" },
          { on: "date_relative", label: "Relative to a date field" },
          { on: "event", label: "On an event" },
        ];
        if (this.doc.kind === "assignment") {
          all[0].label = "When a record is saved (the usual choice: assigned in the save itself)";
          all[1].label = "After save (assigned a moment after the save)";
        }
        if (this.doc.kind !== "segment") return all;
        return [{ on: "after_save", label: "As records change (and every hour)" },
                { on: "schedule", label: "As records change, and on a schedule" }];
      },
      objectLabel() { return objectOf(this.doc.object).label; },
      fields() { return fieldsOf(this.doc.object).filter((f) => !UNPICKABLE.includes(f.type)); },
      writable(object) { return fieldsOf(object || this.doc.object).filter((f) => f.writable); },
      fieldsOfType(types) { return fieldsOf(this.doc.object).filter((f) => types.includes(f.ftype) || types.includes(f.type)); },
      onSave() { return ["before_save", "after_save"].includes(this.doc.trigger.on); },
      allowedActions() {
        return this.doc.trigger.on === "before_save"
          ? ACTIONS.filter((a) => ["set_fields", "refuse"].includes(a.action))
          : ACTIONS.filter((a) => a.action !== "refuse");
      },
      sources() {
        const e = this.doc.trigger.event;
        if (e === "flow.finished") return this.d.flows;
        if (e.startsWith("sla.")) return this.d.sla_policies;
        return this.d.segments;
      },
      toggleChanged(name) {
        const list = this.doc.trigger.changed;
        const at = list.indexOf(name);
        if (at >= 0) list.splice(at, 1); else list.push(name);
      },
      applyPreset(event) { if (event.target.value) this.doc.trigger.cron = event.target.value; event.target.value = ""; },
      addOffset() { this.doc.trigger.offsets.push({ amount: 1, unit: "days", before: true }); },
      addAction() {
        const kind = this.allowedActions().some((a) => a.action === this.newActionKind) ? this.newActionKind : "set_fields";
        this.doc.actions.push(newAction(kind, this.doc.object));
      },
      moveAction(i, by) {
        const list = this.doc.actions;
        const j = i + by;
        if (j < 0 || j >= list.length) return;
        [list[i], list[j]] = [list[j], list[i]];
      },
      actionLabel(kind) { return (ACTIONS.find((a) => a.action === kind) || { label: kind }).label; },
      addScoringRow() { this.doc.scoring.rules.push({ when: "", points: 10, label: "" }); },
      expectFor(object, name) { return expectOf(object, name); },

      toDocument() {
        const m = this.doc;
        const name = trim(m.api_name) || slug(m.label);
        const doc = { api_name: name, label: trim(m.label) || name, object: m.object, kind: m.kind, active: !!m.active,
                      order: Number(m.order) || 0 };
        if (trim(m.description)) doc.description = trim(m.description);
        const t = m.trigger;
        const trigger = { on: t.on };
        if (this.onSave()) {
          if (t.when !== "created_or_updated") trigger.when = t.when;
          if (t.changed.length && t.when !== "created") trigger.changed = [...t.changed];
        } else if (t.on === "schedule") {
          trigger.cron = trim(t.cron);
          if (t.timezone) trigger.timezone = t.timezone;
        } else if (t.on === "date_relative") {
          trigger.field = t.field;
          trigger.offsets = t.offsets.map((o) => ({ [o.unit]: (o.before ? -1 : 1) * Math.abs(parseInt(o.amount, 10) || 0) }));
          if (t.at) trigger.at = t.at;
          if (t.timezone) trigger.timezone = t.timezone;
        } else if (t.on === "event") {
          trigger.event = t.event;
          if (t.source) trigger.source = t.source;
        }
        doc.trigger = trigger;
        // A segment's members are what its own condition says (Who belongs).
        if (trim(m.condition) && m.kind !== "segment") doc.condition = trim(m.condition);
        if (m.kind === "automation") doc.actions = m.actions.map(actionDocument);
        if (m.kind === "assignment") {
          const a = m.assignment;
          doc.assignment = { team: a.team, strategy: a.strategy };
          if (a.field && a.field !== "owner") doc.assignment.field = a.field;
          if (a.strategy === "by_attribute") {
            doc.assignment.attribute = a.attribute;
            if (trim(a.member_attribute)) doc.assignment.member_attribute = trim(a.member_attribute);
          }
          if (a.strategy === "least_open" && trim(a.open_condition)) doc.assignment.open_condition = trim(a.open_condition);
        }
        if (m.kind === "scoring") {
          doc.scoring = { field: m.scoring.field, rules: m.scoring.rules.map((r) => {
            const out = { when: trim(r.when), points: parseInt(r.points, 10) || 0 };
            if (trim(r.label)) out.label = trim(r.label);
            return out;
          }) };
        }
        if (m.kind === "segment") {
          doc.segment = { condition: trim(m.segment.condition) };
          if (m.segment.field) doc.segment.field = m.segment.field;
        }
        return doc;
      },
    });
  }

  // -- business calendars -------------------------------------------------------------------
  const DAYS = [["mon", "Monday"], ["tue", "Tuesday"], ["wed", "Wednesday"], ["thu", "Thursday"], ["fri", "Friday"],
                ["sat", "Saturday"], ["sun", "Sunday"]];

  function calendarBuilder() {
    const stored = design.doc;
    const doc = stored || { hours: Object.fromEntries(DAYS.slice(0, 5).map(([d]) => [d, [["09:00", "17:00"]]])) };
    return Object.assign(page("calendars", stored), {
      days: DAYS,
      timezones: design.timezones,
      doc: {
        api_name: doc.api_name || "", label: doc.label || "", description: doc.description || "",
        timezone: doc.timezone || Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC",
        hours: Object.fromEntries(DAYS.map(([d]) => [d, copy((doc.hours || {})[d] || [])])),
        holidays: (doc.holidays || []).map((h) => (typeof h === "string" ? { date: h, label: "" } : { date: h.date, label: h.label || "" })),
        overrides: copy(doc.overrides || {}),
      },
      addInterval(day) {
        const list = this.doc.hours[day];
        const last = list[list.length - 1];
        list.push(last ? [last[1] < "23:00" ? next(last[1]) : last[1], "18:00"] : ["09:00", "17:00"]);
      },
      addBreak(day) {
        // Splits the day's last interval at 12:00–13:00: a lunch break.
        const list = this.doc.hours[day];
        const last = list[list.length - 1];
        if (!last) return;
        list.splice(list.length - 1, 1, [last[0], "12:00"], ["13:00", last[1]]);
      },
      copyMonday() {
        DAYS.slice(1, 5).forEach(([d]) => { this.doc.hours[d] = copy(this.doc.hours.mon); });
      },
      toDocument() {
        const m = this.doc;
        const name = trim(m.api_name) || slug(m.label);
        const hours = {};
        DAYS.forEach(([d]) => {
          const list = m.hours[d].map(([a, b]) => [trim(a), trim(b)]);
          if (list.length) hours[d] = list;
        });
        const doc = { api_name: name, label: trim(m.label) || name, timezone: m.timezone, hours };
        if (trim(m.description)) doc.description = trim(m.description);
        const holidays = m.holidays.filter((h) => trim(h.date)).map((h) => (trim(h.label) ? { date: h.date, label: trim(h.label) } : h.date));
        if (holidays.length) doc.holidays = holidays;
        if (Object.keys(m.overrides).length) doc.overrides = copy(m.overrides);
        return doc;
      },
    });
  }

  function next(time) {
    const [h, mnt] = time.split(":").map(Number);
    const hour = Math.min(h + 1, 23);
    return `${String(hour).padStart(2, "0")}:${String(mnt || 0).padStart(2, "0")}`;
  }

  // -- SLA policies -------------------------------------------------------------------------
  function notifyModel(actions) {
    const notify = (actions || []).find((a) => a.action === "notify");
    return {
      enabled: !!notify,
      to: notify ? peopleModel(notify.to) : [{ kind: "field", value: "owner" }],
      title: notify ? notify.title || "" : "", body: notify ? notify.body || "" : "",
      others: (actions || []).filter((a) => a !== notify),
    };
  }

  function notifyDocument(m) {
    const out = copy(m.others);
    if (m.enabled) {
      const step = { action: "notify", to: peopleDocument(m.to), title: m.title };
      if (trim(m.body)) step.body = m.body;
      out.unshift(step);
    }
    return out;
  }

  function extrasOf(source, spec) {
    return Object.fromEntries(Object.keys(spec).map((k) => [k, source[k] === undefined ? "" : String(source[k])]));
  }

  function extrasDocument(values, spec, into) {
    for (const [name, info] of Object.entries(spec)) {
      const v = trim(values[name]);
      if (!v) continue;
      into[name] = info.type === "integer" || info.type === "number" ? Number(v) : info.type === "boolean" ? v === "true" : v;
    }
  }

  // -- an SLA metric's "achieved when", picked by the labels of the object's fields ----------
  // A date filled in, a choice among options, a checkbox ticked or not — or a formula. The
  // server writes the formula of a pick and says why a pick cannot work (met at once, a
  // status that also pauses the clock); `initial` is the stored formula read by the server.
  // The formula is the component's model (x-modelable).
  function achievedPicker(getObject, getMetric, getPolicy, initial) {
    return {
      formula: "",
      choice: "",
      values: [],
      note: "",
      init() {
        const start = initial || { kind: "" };
        this.choice = start.kind === "formula" ? "formula" : start.kind ? `${start.kind}:${start.field}` : "";
        this.values = [...(start.values || [])];
        // The same pick can stop working when the metric or the paused statuses change.
        this.$watch(() => JSON.stringify([getMetric(), getPolicy().status_field, getPolicy().pause_when_status]),
                    () => { if (this.entry()) this.pick(); });
        setTimeout(() => { if (this.entry()) this.pick(); });
      },
      offered() { return (design.achievable || {})[getObject()] || []; },
      entry() { return this.offered().find((c) => c.value === this.choice) || null; },
      groups() {
        const out = [];
        for (const c of this.offered()) {
          let group = out.find((g) => g.label === c.group);
          if (!group) out.push(group = { label: c.group, choices: [] });
          group.choices.push(c);
        }
        return out;
      },
      toggle(value) {
        const at = this.values.indexOf(value);
        if (at >= 0) this.values.splice(at, 1); else this.values.push(value);
        this.pick();
      },
      async pick() {
        const entry = this.entry();
        if (!entry) {
          this.note = "";
          if (this.choice === "") this.formula = "";
          return;
        }
        if (entry.kind !== "one_of") this.values = [];
        const policy = getPolicy();
        const { ok, answer } = await send("POST", "/builder/sla/achieved", {
          object: getObject(), metric: getMetric(),
          choice: { kind: entry.kind, field: entry.field, values: this.values },
          status_field: policy.status_field || "status", pause_when_status: policy.pause_when_status,
        });
        if (!ok) { this.formula = ""; this.note = answer.detail || "This cannot be picked."; return; }
        this.formula = answer.formula;
        this.note = (answer.problems || []).join(" ");
      },
    };
  }

  // Targets are typed and shown in words ("4 hours", "1 hour 30 minutes": durations.js) and
  // stored as ISO 8601 hours and minutes, or minutes as a number; "a day" is refused, being
  // ambiguous in business time. The warning is a share of the target, shown as a percentage.
  const durations = () => window.tesseraDurations || null;
  function targetWords(value) {
    const d = durations();
    const total = typeof value === "number" ? value * 60 : d ? d.fromIso(value) : null;
    if (total === null || total === undefined) return String(value);
    // Hours and minutes only: 40 business hours are not "1 day 16 hours".
    const hours = Math.floor(total / 3600);
    const minutes = Math.round((total % 3600) / 60);
    const part = (n, word) => (n ? `${n} ${word}${n === 1 ? "" : "s"}` : "");
    return [part(hours, "hour"), part(minutes, "minute")].filter(Boolean).join(" ") || "0 minutes";
  }
  function targetValue(text) {
    const typed = trim(text);
    if (/^\d+$/.test(typed)) return { value: Number(typed) };
    const d = durations();
    return d ? d.read(typed, { days: false }) : { value: typed };
  }

  function slaBuilder() {
    const stored = design.doc;
    const doc = stored || { metrics: [{ metric: "first_reply", targets: { default: "PT4H" }, warn_at: 0.75 }] };
    const extras = design.extras;
    return Object.assign(page("sla_policies", stored), {
      d: design,
      extras,
      doc: {
        api_name: doc.api_name || "", label: doc.label || "", description: doc.description || "",
        active: doc.active !== false,
        object: doc.object || design.object || (design.objects[0] || {}).api_name || "",
        applies_when: doc.applies_when || "", cancel_when: doc.cancel_when || "", order: doc.order || 0,
        calendar: doc.calendar || (design.calendars[0] || {}).api_name || "",
        priority_field: doc.priority_field || "", status_field: doc.status_field || "",
        pause_when_status: [...(doc.pause_when_status || [])],
        metrics: (doc.metrics || []).map((m, i) => ({
          key: i, metric: m.metric, warn_pct: m.warn_at == null ? "" : Math.round(Number(m.warn_at) * 100),
          achieved_when: m.achieved_when || "", achieved: (design.achieved || [])[i] || { kind: "" },
          starts_when: m.starts_when || "", targetProblems: {},
          targets: Object.fromEntries(Object.entries(m.targets || {}).map(([k, v]) => [k, targetWords(v)])),
          extras: extrasOf(m, extras.metric),
        })),
        warning: notifyModel(doc.warning_actions),
        breach: notifyModel(doc.breach_actions),
        extras: extrasOf(doc, extras.policy),
      },
      selectFields() { return fieldsOf(this.doc.object).filter((f) => f.options && f.options.length); },
      optionsOf(name, fallback) {
        const f = fieldOf(this.doc.object, name || fallback);
        return f ? f.options : [];
      },
      priorities() {
        return [...this.optionsOf(this.doc.priority_field, "priority").map((o) => o.value), "default"];
      },
      priorityLabel(value) {
        if (value === "default") return "Any other priority";
        const found = this.optionsOf(this.doc.priority_field, "priority").find((o) => o.value === value);
        return found ? found.label : value;
      },
      // The blank choice of the priority and status pickers: the field of that name, if any.
      usualField(name) {
        const f = fieldOf(this.doc.object, name);
        return f ? `${f.label} (the usual field)` : `No field named ${name}`;
      },
      checkTarget(m, p) {
        const found = targetValue(m.targets[p]);
        m.targetProblems = Object.assign({}, m.targetProblems, { [p]: found.problem || "" });
        if (found.value !== null && found.value !== "" && typeof found.value === "string") m.targets[p] = targetWords(found.value);
      },
      togglePause(value) {
        const list = this.doc.pause_when_status;
        const at = list.indexOf(value);
        if (at >= 0) list.splice(at, 1); else list.push(value);
      },
      addMetric() {
        const used = this.doc.metrics.map((m) => m.metric);
        const metric = ["first_reply", "next_reply", "resolution"].find((x) => !used.includes(x)) || "resolution";
        this.doc.metrics.push({ key: Math.max(-1, ...this.doc.metrics.map((x) => x.key)) + 1, metric, warn_pct: "",
                                targets: { default: "" }, targetProblems: {}, achieved_when: "", achieved: { kind: "" },
                                starts_when: "", extras: extrasOf({}, extras.metric) });
      },
      toDocument() {
        const m = this.doc;
        const name = trim(m.api_name) || slug(m.label);
        const doc = { api_name: name, label: trim(m.label) || name, object: m.object, calendar: m.calendar,
                      order: Number(m.order) || 0 };
        if (!m.active) doc.active = false;
        if (trim(m.description)) doc.description = trim(m.description);
        if (trim(m.applies_when)) doc.applies_when = trim(m.applies_when);
        if (trim(m.cancel_when)) doc.cancel_when = trim(m.cancel_when);
        if (m.priority_field) doc.priority_field = m.priority_field;
        if (m.status_field) doc.status_field = m.status_field;
        if (m.pause_when_status.length) doc.pause_when_status = [...m.pause_when_status];
        doc.metrics = m.metrics.map((x) => {
          const targets = {};
          for (const [k, v] of Object.entries(x.targets)) {
            if (!trim(v)) continue;
            const found = targetValue(v);
            // Not a length of time: sent as typed, for the server to refuse beside the input.
            targets[k] = found.problem ? trim(v) : found.value;
          }
          const out = { metric: x.metric, targets };
          if (trim(x.warn_pct) !== "") out.warn_at = Number(String(x.warn_pct).replace(",", ".")) / 100;
          if (trim(x.achieved_when)) out.achieved_when = trim(x.achieved_when);
          if (x.metric === "next_reply" && trim(x.starts_when)) out.starts_when = trim(x.starts_when);
          extrasDocument(x.extras, extras.metric, out);
          return out;
        });
        const warning = notifyDocument(m.warning);
        const breach = notifyDocument(m.breach);
        if (warning.length) doc.warning_actions = warning;
        if (breach.length) doc.breach_actions = breach;
        extrasDocument(m.extras, extras.policy, doc);
        return doc;
      },
    });
  }

  // -- the rules list: switching a rule on and off --------------------------------------------
  function listen() {
    if (window.tesseraRulesListening) return;
    window.tesseraRulesListening = true;
    document.addEventListener("change", async (event) => {
      const box = event.target.closest ? event.target.closest("[data-rule-active]") : null;
      if (!box) return;
      const status = document.getElementById("rules-status");
      const label = box.parentElement.querySelector("span");
      const { ok, answer } = await send("PATCH", `/api/v1/meta/rules/${box.dataset.ruleActive}`,
                                        { active: box.checked, version: Number(box.dataset.version) });
      if (ok) {
        box.dataset.version = answer.version;
        if (label) label.textContent = box.checked ? "on" : "off";
        if (status) { status.textContent = `${answer.label} is ${box.checked ? "active" : "switched off"}.`; status.className = "flash ok"; }
      } else {
        box.checked = !box.checked;
        if (status) { status.textContent = answer.detail || "Not changed."; status.className = "flash error"; }
      }
    });
  }

  // -- starting ------------------------------------------------------------------------------
  function register(Alpine) {
    Alpine.data("ruleBuilder", ruleBuilder);
    Alpine.data("calendarBuilder", calendarBuilder);
    Alpine.data("slaBuilder", slaBuilder);
    Alpine.data("achievedPicker", achievedPicker);
    Alpine.data("conditionEditor", conditionEditor);
    Alpine.data("formulaInput", formulaInput);
  }

  function readDesign() {
    const found = document.getElementById("rules-design");
    if (found) design = JSON.parse(found.textContent);
  }

  // The builders' roots wait under x-ignore until their components are registered: on a
  // full page load this script runs before Alpine starts; after an htmx-boosted visit,
  // after it started.
  function wake(started) {
    readDesign();
    document.querySelectorAll("[data-rules-ui][x-ignore]").forEach((root) => {
      root.removeAttribute("x-ignore");
      if (started) {
        delete root._x_ignore;  // what Alpine's observer would clear later, cleared now
        window.Alpine.initTree(root);
      }
    });
  }

  listen();
  if (window.Alpine && window.Alpine.version) {
    register(window.Alpine);
    wake(true);
  } else {
    document.addEventListener("alpine:init", () => { register(window.Alpine); wake(false); });
  }
})();
