"""Forms in the running platform: the `forms` document kind, and the form a user fills in.

For a user, an object and a record (stored, new, or with values being typed) this picks the
form — by role and `applies_if`, else the object's generated form — and works out which
placements are visible, required and read-only by running the form's formulas in Python on
the record, with related records and the acting user at hand. A submission is checked
against the form, then saved through the record service, so the save pipeline, the
object's validation rules and the user's permissions apply as to any write.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from tessera.auth.actor import Actor
from tessera.data.engine import reads_together
from tessera.errors import FieldProblem, Forbidden, InvalidInput, NotFound, TesseraError
from tessera.forms import (
    Evaluate,
    Form,
    FormRenderer,
    FormState,
    FormUrls,
    RelatedList,
    RelatedRows,
    Timeline,
    TimelineRows,
    TimelineSource,
    choose,
    chosen_ahead,
    coerce_values,
    generated,
    generated_document,
    json_schema,
    parse,
    posted_values,
    relation_filter_head,
    relation_path,
    state,
    submission_problems,
    unchanged,
)
from tessera.forms.html import TimelineEntry
from tessera.forms.lines import choosable
from tessera.forms.lines import columns as line_columns
from tessera.formula import EvalContext, FormulaError
from tessera.formula import evaluate as run_formula
from tessera.meta.fieldtypes import FieldValueError
from tessera.meta.model import FieldDef, ObjectDef
from tessera.meta.times import from_local_input, time_zone
from tessera.runtime.forms.cells import Cells, Show
from tessera.runtime.forms.cells import coerce as _coerce
from tessera.runtime.forms.cells import label as cell_label
from tessera.runtime.forms.lines import LineFilling, TypedSet, read_posted
from tessera.runtime.forms.related import ListRead, Page, RelatedReader
from tessera.runtime.kernel.catalog import PerSnapshot, Snapshot
from tessera.runtime.kernel.transactions import Kernel
from tessera.runtime.metadata.documents import DocumentService
from tessera.runtime.records.access import AccessService
from tessera.runtime.records.formulas import (
    FormulaService,
    SnapshotSchema,
    as_input,
    sees_as_viewer,
    value_expression_of,
)
from tessera.runtime.records.service import RecordService

#: What a page's related lists and timeline sources read, by ("related", n) and ("timeline",
#: n, source's n): what each asked for, and its records (see `FormService._pages`).
Pages = Mapping[Any, tuple[Any, Page | None]]
#: A relation's hops from an object: per hop, the child object and its lookup (`relation_path`).
Hops = list[tuple[ObjectDef, FieldDef]]
#: builder-ui's templates, next to the `platform` and `engines` folders.
TEMPLATES = Path(__file__).resolve().parents[4] / "builder-ui" / "templates"
_SYSTEM_IDS = ("id", "version", "owner", "created_by", "updated_by")
#: What `FormService.design` adds to a form document for the designer.
DESIGN_ONLY = ("palette", "lines")
_SYSTEM_TIMES = ("created_at", "updated_at")


# -- filling in a form --------------------------------------------------------------------

@dataclass
class Filling:
    """A form being filled in: the record as it would be saved, and the form's state."""

    obj: ObjectDef
    form: Form
    state: FormState
    #: Stored values with the typed ones over them, computed fields worked out.
    record: dict[str, Any]
    #: The stored record as the API returns it (None for a new record).
    stored: dict[str, Any] | None
    #: Values that did not fit their fields.
    problems: list[FieldProblem]
    #: For a new record: what the form and the fields fill in, as API values.
    defaults: dict[str, Any] = field(default_factory=dict)
    #: The defaults the form itself adds to a new record (the pipeline adds the fields' own).
    form_defaults: dict[str, Any] = field(default_factory=dict)
    hidden: frozenset[str] = frozenset()
    locked: frozenset[str] = frozenset()
    #: The lines of its line-items fields as being typed (runtime/forms/lines.py).
    lines: TypedSet = field(default_factory=TypedSet)


class FormService:
    """Picks, evaluates, checks and renders forms for users."""

    def __init__(self, kernel: Kernel, documents: DocumentService, records: RecordService, formulas: FormulaService,
                 access: AccessService, templates: Path = TEMPLATES) -> None:
        self.kernel = kernel
        self.documents = documents
        self.records = records
        self.formulas = formulas
        self.access = access
        self.renderer = FormRenderer(templates)
        self._parsed: dict[tuple[str, int], Form] = {}
        self._lock = threading.Lock()
        self.related = RelatedReader(records)
        #: How the cells of related lists and timelines show, for one metadata revision.
        self._shown: Cells | None = None
        #: Each relation's hops from an object, for one snapshot (they read nothing else).
        self._paths: PerSnapshot[tuple[str, str], Hops | str] = PerSnapshot()
        #: The active forms of each object, for one snapshot (`forms`).
        self._forms: PerSnapshot[str, tuple[list[Form], bool]] = PerSnapshot()
        #: What each form's related lists and timelines read, by object, form and access (`_reads`).
        self._plans: PerSnapshot[tuple[Any, ...], tuple[Form, Any]] = PerSnapshot()
        #: The state of forms without conditions, by object, form and access (`_state`).
        self._states: PerSnapshot[tuple[Any, ...], tuple[Form, FormState | None]] = PerSnapshot()
        self.lines = LineFilling(formulas, access, records, self._compute, self._evaluator)

    # -- what the endpoints call --------------------------------------------------------
    def state(self, actor: Actor, object_name: str, *, form: str | None = None, record_id: int | None = None,
              values: Any = None) -> dict[str, Any]:
        """Which placements are visible, required and read-only for these values now."""
        stored = self._stored(actor, object_name, record_id)
        zone = time_zone(actor.time_zone)
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            filling = self._fill(conn, snap, actor, snap.object(object_name), form, stored, _values(values))
            lines = {name: self.lines.state(actor, snap, typed, filling.form.placement(name), zone)
                     for name, typed in filling.lines.fields.items() if typed.posted and name in filling.state.fields}
        answer = {
            "object": filling.obj.api_name, "form": filling.form.api_name, "record_id": record_id,
            **filling.state.as_json(),
            "errors": [p.as_json() for p in filling.problems],
            "defaults": filling.defaults,
        }
        if lines:
            # The line formulas and the record's formulas over its lines, as the page shows them.
            answer["lines"] = lines
            answer["values"] = {f.api_name: f.ftype.display(f, filling.record.get(f.api_name))
                                for f in filling.obj.fields if f.computed and f.api_name in filling.state.fields}
        return answer

    def json_schema(self, actor: Actor, object_name: str, *, form: str | None = None) -> dict[str, Any]:
        """The JSON Schema of what the form (named, or the one a new record gets) accepts."""
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            filling = self._fill(conn, snap, actor, snap.object(object_name), form, None, {}, creating=False)
        schema = json_schema(filling.form, filling.obj, hidden=filling.hidden, locked=filling.locked)
        schema["x-form"] = filling.form.api_name
        return schema

    def submit(self, actor: Actor, object_name: str, *, form: str | None = None, record_id: int | None = None,
               values: Any = None, version: int | None = None) -> dict[str, Any]:
        """Check a submission against its form, then create or change the record through
        the save pipeline. Problems come back per field, nothing saved."""
        if not isinstance(values, dict):
            raise InvalidInput("Send the form's values as a JSON object.",
                               [FieldProblem("values", "must be an object of field values")])
        stored = self._stored(actor, object_name, record_id)
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            obj = snap.object(object_name)
            filling = self._fill(conn, snap, actor, obj, form, stored, values)
            # A value sent back unchanged for a field the form does not let the user write (a
            # hidden input still in the page) is dropped rather than refused; on a new record
            # "unchanged" is what the defaults give.
            quiet = unchanged(filling.state, values, stored if stored is not None else filling.defaults)
            submitted = {k: v for k, v in values.items() if k not in quiet}
            if quiet and stored is None:
                filling = self._fill(conn, snap, actor, obj, form, stored, submitted)
        coercion = [p for p in filling.problems if p.field in submitted]
        problems = submission_problems(filling.form, filling.obj, submitted, filling.state, filling.record, coercion)
        if problems:
            raise InvalidInput("The form is not valid; nothing was saved.", problems)
        if record_id is None:
            return self.records.create(actor, object_name, {**filling.form_defaults, **submitted})
        return self.records.update(actor, object_name, record_id, submitted, version)

    def render(self, actor: Actor, object_name: str, *, form: str | None = None, record_id: int | None = None,
               values: Any = None, errors: list[FieldProblem] | None = None, urls: FormUrls | None = None,
               id_prefix: str = "f-") -> str:
        """The form as HTML for a new or stored record, with `values` typed over it and the
        `errors` of a refused submission shown beside their fields. `urls` say where the
        page submits and asks for the state (the JSON endpoints unless given)."""
        given = _values(values)
        # One transaction for the record, its form, its related lists and its lookups' names.
        with self.kernel.read() as conn:
            snap, stored, ahead = self._page_reads(conn, actor, object_name, form, record_id)
            obj = snap.object(object_name)
            filling = self._fill(conn, snap, actor, obj, form, stored, given)
            displays = self._displays(actor, snap, obj, filling)
            if ahead is not None and ahead[0] is filling.form:
                pages = ahead[1]
            else:
                pages = self._pages(actor, snap, obj, filling.form, record_id) if record_id is not None else {}
            related = self._related(actor, snap, obj, filling.form, record_id, pages)
            timelines = self._timelines(actor, snap, obj, filling.form, record_id, pages)
            raw = {p.field: given.get(p.field) for p in filling.problems}
            messages: dict[str, list[str]] = {}
            for problem in [*(errors or []), *filling.problems]:
                shown = messages.setdefault(problem.field, [])
                if problem.message not in shown:
                    shown.append(problem.message)
            grids = {name: self.lines.grid(actor, snap, typed, filling.form.placement(name), messages,
                                           time_zone(actor.time_zone))
                     for name, typed in filling.lines.fields.items() if name in filling.state.fields}
        base = f"/api/v1/forms/{obj.api_name}"
        return self.renderer.form(
            filling.form, obj, filling.record, filling.state, urls or FormUrls(f"{base}/submit", f"{base}/state"),
            errors=messages, raw=raw, displays=displays, related=related, timelines=timelines, record_id=record_id,
            version=(stored or {}).get("version"), id_prefix=id_prefix, zone=time_zone(actor.time_zone),
            children=_children(snap, obj), grids=grids,
        )

    def posted(self, object_name: str, items: Iterable[tuple[str, str]], *,
               actor: Actor | None = None) -> dict[str, Any]:
        """An HTML form post of the rendered widgets — (name, text) pairs — as the values
        `state` and `submit` take; text a widget cannot read is refused per field. A date
        and time typed without a zone is read in `actor`'s time zone, as the form showed it."""
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            obj = snap.object(object_name)
        zone = time_zone(actor.time_zone if actor is not None else None)
        local = [(name, from_local_input(text, zone) if isinstance(text, str) and (f := obj.field(name)) is not None
                  and f.type == "datetime" else text) for name, text in items]
        values, problems = posted_values(obj, local)
        for fdef in obj.line_fields:
            # The grid posts its lines as texts of cells: each is read by its child field.
            child = snap.objects.get(str(fdef.props.get("target")))
            if child is not None and isinstance(values.get(fdef.api_name), list):
                values[fdef.api_name] = read_posted(child, values[fdef.api_name], zone)
        if problems:
            raise InvalidInput("Some values could not be read.", problems)
        return values

    # -- the form designer ---------------------------------------------------------------
    def design(self, actor: Actor, object_name: str, form: str | None = None) -> dict[str, Any]:
        """What the form designer starts from: the form's document — the one named, else
        the object's first form, else one generated from its fields — with `sections`
        (those of every tab) and `palette`, the fields not placed yet."""
        with self.kernel.read() as conn:
            snap = self.kernel.snapshot(conn)
            obj = snap.object(object_name)
            hidden = frozenset(self.access.object(actor, snap, obj).hidden)
            forms = sorted(self.forms(conn, snap, obj), key=lambda f: (not f.default, f.priority, f.api_name or ""))
        if form is not None and form not in {f.api_name for f in forms}:
            raise NotFound(f"{obj.label} has no form named {form!r}.")
        name = form or (forms[0].api_name if forms else None)
        doc = self.documents.get("forms", name) if name else generated_document(obj, hidden)
        sections = doc.get("sections") or [s for tab in doc.get("tabs", []) for s in tab.get("sections", [])]
        placed = {p.field for p in parse(doc).placements}
        palette = [{"api_name": f.api_name, "label": f.label, "type": f.type}
                   for f in (*obj.fields, *obj.line_fields) if f.api_name not in placed and f.api_name not in hidden]
        return {**doc, "sections": sections, "palette": palette, "lines": _line_choices(snap, obj, hidden)}

    def save_design(self, actor: Actor, object_name: str, doc: Any) -> dict[str, Any]:
        """Save what the designer made: the form is created, or changed when it exists
        (at the version the designer started from, when it says)."""
        if not isinstance(doc, dict) or not isinstance(doc.get("api_name"), str):
            raise InvalidInput("Send the form as a JSON object with its api_name.",
                               [FieldProblem("/api_name", "is required")])
        # What `design` adds for the designer (the palette, the line items' choices) is not
        # part of the document: a designer may send it back as it came.
        body = {k: v for k, v in doc.items() if k not in DESIGN_ONLY} | {"object": object_name}
        version = body.pop("version", None)
        for layout, other in (("sections", "tabs"), ("tabs", "sections")):
            if layout in body and other not in body:
                body[other] = None  # a designed layout replaces the stored one
        existing = {d["api_name"] for d in self.documents.list("forms", object_name=object_name)}
        if body["api_name"] in existing:
            return self.documents.update(actor, "forms", body["api_name"], body,
                                         expected_version=version if isinstance(version, int) else None)
        return self.documents.create(actor, "forms", {k: v for k, v in body.items() if v is not None})

    # -- the forms of an object ---------------------------------------------------------
    def forms(self, conn: Connection, snap: Snapshot, obj: ObjectDef) -> list[Form]:
        """The active forms of an object, parsed once per document version (and looked
        up once per snapshot: a page asks for them several times)."""
        return list(self._forms_of(conn, snap, obj)[0])

    def _forms_of(self, conn: Connection, snap: Snapshot, obj: ObjectDef) -> tuple[list[Form], bool]:
        """`forms`, and whether any of them has a formula, kept for the snapshot."""
        by_object = self._forms.of(snap)
        found = by_object.get(obj.uid)
        if found is None:
            forms = self._read_forms(conn, snap, obj)
            found = by_object[obj.uid] = (forms, any(f.formulas() for f in forms))
        return found

    def _read_forms(self, conn: Connection, snap: Snapshot, obj: ObjectDef) -> list[Form]:
        out = []
        for stored in self.documents.active(conn, snap, "forms"):
            if stored.body.get("object") != obj.api_name:
                continue
            key = (stored.uid, stored.version)
            parsed = self._parsed.get(key)
            if parsed is None:
                parsed = parse(stored.body)
                with self._lock:
                    if len(self._parsed) > 5000:
                        self._parsed.clear()
                    self._parsed[key] = parsed
            out.append(parsed)
        return out

    def _choose(self, conn: Connection, snap: Snapshot, actor: Actor, obj: ObjectDef, name: str | None,
                record: Mapping[str, Any], evaluate: Evaluate, hidden: frozenset[str]) -> Form:
        forms = self.forms(conn, snap, obj)
        roles = frozenset(getattr(actor, "roles", ()) or ())
        if name:
            found = next((f for f in forms if f.api_name == name), None)
            if found is None:
                raise NotFound(f"{obj.label} has no form named {name!r}.")
            if found.roles and not actor.is_admin and not roles & set(found.roles):
                raise Forbidden(f"The form {found.label!r} is for other roles.")
            return found
        return choose(forms, record, evaluate, roles) or generated(obj, hidden)

    # -- working out a filling ----------------------------------------------------------
    def _stored(self, actor: Actor, object_name: str, record_id: int | None) -> dict[str, Any] | None:
        if record_id is None:
            return None
        return self.records.get(actor, object_name, _record_id(record_id))

    def _page_reads(self, conn: Connection, actor: Actor, object_name: str, form_name: str | None,
                    record_id: int | None) -> tuple[Snapshot, dict[str, Any] | None, tuple[Form, Pages] | None]:
        """The metadata, the stored record and, when the form a page shows does not depend
        on the record, that form with what its related lists and timelines read (`_pages`).
        The record (whose row carries the revision check) and the lists are sent together
        (PostgreSQL: one round trip) with the process's newest metadata; if the check finds
        it out of date, or a reader's sign-in no longer holds, nothing read with it is used
        or raised."""
        if record_id is None:
            return self.kernel.snapshot(conn), None, None
        record_id = _record_id(record_id)
        ahead: tuple[Form, Pages] | None = None
        refused: TesseraError | None = None
        carried: Callable[[], tuple[int, int] | None] = _nothing_carried
        try:
            with reads_together(conn):
                guess, confirmed = self.kernel.snapshot_carried(conn)
                if guess is not None:
                    try:
                        obj = guess.object(object_name)
                        record, carried = self.records.get_carrying_later(conn, guess, actor, obj, record_id)
                        form = self._form_ahead(conn, guess, actor, obj, form_name)
                        if form is not None:
                            ahead = form, self._pages_later(actor, guess, obj, form, record_id)
                    except TesseraError as error:
                        refused = error  # raised once the metadata is known to be current
        except DBAPIError:
            # Refused by the database — a statement of metadata another process has changed
            # since (a column's new type under a plan kept here): read again, in order.
            guess, confirmed, carried = None, lambda _carried: self.kernel.snapshot(conn), _nothing_carried
        snap = confirmed(carried())
        if snap is not guess:
            return snap, self.records.get(actor, object_name, record_id), None
        if refused is not None:
            raise refused
        return snap, record(), None if ahead is None else (ahead[0], ahead[1]())

    def _form_ahead(self, conn: Connection, snap: Snapshot, actor: Actor, obj: ObjectDef,
                    name: str | None) -> Form | None:
        """The form `_choose` will give for any record (None: it depends on the record, or
        it is the generated form, which lists nothing)."""
        forms = self.forms(conn, snap, obj)
        if name:
            return next((f for f in forms if f.api_name == name), None)
        return chosen_ahead(forms, frozenset(getattr(actor, "roles", ()) or ()))

    def _fill(self, conn: Connection, snap: Snapshot, actor: Actor, obj: ObjectDef, form_name: str | None,
              stored: dict[str, Any] | None, values: Mapping[str, Any], *, creating: bool = True) -> Filling:
        access = self.access.object(actor, snap, obj)
        hidden, locked = frozenset(access.hidden), frozenset(access.read_only)
        access.refuse("create" if stored is None and creating else "read")
        before = _typed_record(obj, stored, self._cells(snap)) if stored is not None else None
        typed, problems = coerce_values(obj, {k: v for k, v in values.items() if k not in hidden})
        # The form's conditions are the builder's and see every record; a computed field
        # that follows the viewer is worked out over what this person may read.
        ctx = self.access.viewer_context(conn, snap, actor, prior=before)
        # Lines being typed stand in for the stored ones, so `SUM(lines.net)` sees them.
        lines = self.lines.typed(snap, actor, obj, stored, values, ctx, hidden)
        problems += lines.problems
        ctx = lines.context(ctx)
        evaluate = self._evaluator(snap, obj, ctx.unscoped())
        record: dict[str, Any] = {**(before or {}), **typed}
        defaults: dict[str, Any] = {}
        if before is None:
            defaults = self._field_defaults(obj, record, values, evaluate, hidden)
        # Conditions may read computed fields: work them out for the values being typed.
        conditional = (self._forms_of(conn, snap, obj)[1] or lines.posted) \
            and any(f.computed for f in obj.fields)
        if conditional:
            self._compute(snap, obj, record, ctx)
        form = self._choose(conn, snap, actor, obj, form_name, record, evaluate, hidden)
        form_defaults: dict[str, Any] = {}
        if before is None:
            given = self._form_defaults(form, obj, record, values, evaluate, hidden | locked)
            defaults.update(given)
            form_defaults = {k: v for k, v in given.items() if k not in values}
            if form_defaults and conditional:
                self._compute(snap, obj, record, ctx)
        now = self._state(snap, form, obj, record, evaluate, hidden, locked)
        return Filling(obj, form, now, record, stored, problems, defaults, form_defaults, hidden, locked, lines)

    def _state(self, snap: Snapshot, form: Form, obj: ObjectDef, record: Mapping[str, Any], evaluate: Evaluate,
               hidden: frozenset[str], locked: frozenset[str]) -> FormState:
        """`state`, kept per snapshot, form and access when none of the form's placements
        and buttons has a condition: the same for every record then."""
        key = (obj.uid, form.api_name, hidden, locked)
        states = self._states.of(snap)
        found = states.get(key)
        if found is not None and found[0] is form:
            return found[1] if found[1] is not None else state(form, obj, record, evaluate, hidden=hidden,
                                                                locked=locked)
        now = state(form, obj, record, evaluate, hidden=hidden, locked=locked)
        conditional = any(p.visible_if or p.required_if for p in form.placements) \
            or any(b.visible_if for b in form.buttons)
        if len(states) > 2000:
            states.clear()
        states[key] = (form, None if conditional else now)
        return now

    def _evaluator(self, snap: Snapshot, obj: ObjectDef, ctx: EvalContext) -> Evaluate:
        formulas = self.formulas

        def evaluate(source: str, record: Mapping[str, Any]) -> Any:
            checked = formulas.checked(snap, obj, source)
            try:
                return run_formula(checked, record, ctx)
            except (ArithmeticError, ValueError, TypeError) as error:
                raise FormulaError(f"the formula could not be computed: {error}", source) from None

        return evaluate

    def _field_defaults(self, obj: ObjectDef, record: dict[str, Any], values: Mapping[str, Any],
                        evaluate: Evaluate, hidden: frozenset[str]) -> dict[str, Any]:
        """A new record's field defaults and default formulas as API values, filled into
        `record` where the values leave the field out, as the pipeline will fill them."""
        shown: dict[str, Any] = {}
        for fdef in obj.stored_fields:
            if fdef.ftype.system_generated or fdef.api_name in hidden:
                continue
            raw: Any = fdef.default
            if raw is None and fdef.props.get("default_formula"):
                try:
                    raw = as_input(evaluate(str(fdef.props["default_formula"]), record))
                except FormulaError:
                    raw = None
            value = _coerce(fdef, raw)
            if value is not None:
                shown[fdef.api_name] = fdef.ftype.to_json(fdef, value)
                if fdef.api_name not in values:
                    record[fdef.api_name] = value
        return shown

    def _form_defaults(self, form: Form, obj: ObjectDef, record: dict[str, Any], values: Mapping[str, Any],
                       evaluate: Evaluate, unwritable: frozenset[str]) -> dict[str, Any]:
        """The form's own defaults for a new record as API values, filled into `record`
        where the values leave the field out."""
        out: dict[str, Any] = {}
        for p in form.placements:
            fdef = obj.field(p.field)
            if fdef is None or fdef.read_only or p.field in unwritable:
                continue
            if p.has_default:
                raw = p.default
            elif p.default_formula:
                try:
                    raw = as_input(evaluate(p.default_formula, record))
                except FormulaError:
                    continue
            else:
                continue
            try:
                value = fdef.ftype.coerce(fdef, raw)
            except (FieldValueError, ValueError, TypeError, ArithmeticError):
                continue
            if p.field not in values:
                record[p.field] = value
            out[p.field] = None if value is None else fdef.ftype.to_json(fdef, value)
        return out

    def _compute(self, snap: Snapshot, obj: ObjectDef, record: dict[str, Any], ctx: EvalContext) -> None:
        """Work out the computed fields for the record as it is now (they may read the
        values being typed, and each other)."""
        computed = {f.api_name: f for f in obj.fields if f.computed}
        done: set[str] = set()

        def compute(fdef: FieldDef, chain: tuple[str, ...]) -> None:
            if fdef.api_name in done or fdef.api_name in chain:
                return
            try:
                checked = self.formulas.checked(snap, obj, value_expression_of(fdef))
            except FormulaError:
                record[fdef.api_name] = None
                done.add(fdef.api_name)
                return
            for name in checked.fields:
                if name in computed:
                    compute(computed[name], (*chain, fdef.api_name))
            try:
                record[fdef.api_name] = run_formula(checked, record,
                                                    ctx if sees_as_viewer(fdef) else ctx.unscoped())
            except (FormulaError, ArithmeticError, ValueError, TypeError):
                record[fdef.api_name] = None
            done.add(fdef.api_name)

        for fdef in computed.values():
            compute(fdef, ())

    # -- what a rendered form shows besides the values ----------------------------------
    def _displays(self, actor: Actor, snap: Snapshot, obj: ObjectDef, filling: Filling) -> dict[str, str]:
        """The names of the records and users lookups point at (only records the user may see)."""
        out: dict[str, str] = {}
        for p in filling.form.placements:
            fdef = obj.field(p.field)
            value = filling.record.get(p.field)
            kind = getattr(fdef.ftype, "reference", None) if fdef is not None else None
            if fdef is None or not isinstance(value, int) or kind not in ("record", "user"):
                continue
            out[p.field] = self._record_name(actor, snap, fdef, value) if kind == "record" \
                else self._user_name(value)
        return out

    def _record_name(self, actor: Actor, snap: Snapshot, fdef: FieldDef, record_id: int) -> str:
        target = snap.objects.get(str(fdef.props.get("target")))
        name_field = target.name_field if target is not None else None
        if target is None or name_field is None:
            return f"#{record_id}"
        try:
            found = self.records.get(actor, target.api_name, record_id, fields=[name_field.api_name])
        except TesseraError:
            return f"#{record_id}"
        return str(found.get(name_field.api_name) or f"#{record_id}")

    def _user_name(self, user_id: int) -> str:
        import sqlalchemy as sa

        from tessera.data.tables import users

        with self.kernel.read() as conn:
            name = conn.execute(sa.select(users.c.name).where(users.c.id == user_id)).scalar()
        return str(name) if name else f"#{user_id}"

    def _related(self, actor: Actor, snap: Snapshot, obj: ObjectDef, form: Form,
                 record_id: int | None, pages: Pages | None = None) -> dict[str, RelatedRows]:
        """The rows of the form's related lists (none for a new record). `pages`: what
        `_pages` read for the form, else read here."""
        if record_id is None or not form.related_lists:
            return {}
        if pages is None:
            pages = self._pages(actor, snap, obj, form, record_id)
        out: dict[str, RelatedRows] = {}
        for n, related in enumerate(form.related_lists):
            face, page = pages.get(("related", n), (None, None))
            if face is None or page is None:
                continue  # no such relation, a child the user may not see, or a column hidden from them
            shows = face.shows
            rows = tuple((int(row["id"]), tuple(show(row) for show in shows)) for row in page.data)
            out[related.relation] = RelatedRows(face.object, face.label, face.columns, rows, more=page.more,
                                                filter=f"{face.filter}{int(record_id)}")
        return out

    def _cells(self, snap: Snapshot) -> Cells:
        """How cells of related lists and timelines show, for this metadata revision: a value
        shows the same for every reader (who may see it is settled before)."""
        cells = self._shown
        if cells is None or cells.snap.revision != snap.revision:
            cells = self._shown = Cells(snap)
        return cells

    def _hops(self, snap: Snapshot, obj: ObjectDef, relation: str) -> Hops | str:
        """`relation_path` of `obj` in `snap`, worked out once per snapshot (a page asks for
        the same relations every time it is shown)."""
        paths = self._paths.of(snap)
        key = (obj.api_name, relation)
        found = paths.get(key)
        if found is None:
            found = paths[key] = relation_path(obj, SnapshotSchema(snap), relation)
        return found

    def _related_read(self, actor: Actor, snap: Snapshot, obj: ObjectDef, related: RelatedList) -> ListRead | None:
        """What a related list reads: its columns the reader may see (None: no such relation)."""
        hops = self._hops(snap, obj, related.relation)
        if isinstance(hops, str):
            return None
        child = hops[-1][0]
        hidden = self.access.object(actor, snap, child).hidden  # columns hidden from the reader are left out
        columns = [c for c in related.columns if child.field(c) is not None and c not in hidden]
        return ListRead(related.relation, child, hops, columns or None, related.order, related.limit,
                        _references(child, columns))

    def _timeline_read(self, actor: Actor, snap: Snapshot, obj: ObjectDef, timeline: Timeline,
                       source: TimelineSource) -> tuple[ListRead, str | None, list[str]] | None:
        """What a timeline's source reads — its name, date and columns the reader may see —
        its name field and columns shown (None: nothing the reader may see)."""
        hops = self._hops(snap, obj, source.relation)
        if isinstance(hops, str):
            return None
        child = hops[-1][0]
        access = self.access.object(actor, snap, child)
        if not access.may("read") or source.date in access.hidden:
            return None
        name_field = child.name_field.api_name if child.name_field is not None else None
        if name_field in access.hidden:
            name_field = None
        columns = [c for c in source.columns if child.field(c) is not None and c not in access.hidden]
        wanted = [f for f in dict.fromkeys([name_field, source.date, *columns]) if f and child.field(f)]
        return (ListRead(source.relation, child, hops, wanted or None, f"-{source.date}", timeline.limit,
                         _references(child, columns)), name_field, columns)

    def _pages(self, actor: Actor, snap: Snapshot, obj: ObjectDef, form: Form, record_id: int) -> Pages:
        """The records of every related list and timeline source of the form, read together
        (see RelatedReader.read), with what each read: by ("related", n) and ("timeline", n,
        source's n), as `_related_read` and `_timeline_read` give it."""
        with self.kernel.read() as conn, reads_together(conn):
            later = self._pages_later(actor, snap, obj, form, record_id)
        return later()

    def _pages_later(self, actor: Actor, snap: Snapshot, obj: ObjectDef, form: Form,
                     record_id: int) -> Callable[[], Pages]:
        """`_pages`, its statements sent now and the pages given when the function is called
        (see RelatedReader.read_later)."""
        keys, reads, made = self._reads(actor, snap, obj, form)
        if not reads:
            return lambda: {}
        with self.kernel.read() as conn:
            later = self.related.read_later(conn, snap, actor, record_id, reads, EvalContext())
        return lambda: {key: (made[key], page) for key, page in zip(keys, later(), strict=True)}

    def _reads(self, actor: Actor, snap: Snapshot, obj: ObjectDef,
               form: Form) -> tuple[list[Any], list[ListRead], dict[Any, Any]]:
        """What the form's related lists and timeline sources read (`_related_read`,
        `_timeline_read`): their keys in `Pages`, the reads, and what each asked for. They
        follow the metadata and the reader's access alone, so they are worked out once per
        snapshot, form and access (a page shows the same lists every time)."""
        key = (obj.uid, form.api_name, self.access.scope_key(actor, snap))
        plans = self._plans.of(snap)
        found = plans.get(key)
        if found is not None and found[0] is form:
            return found[1]
        reads: dict[Any, ListRead] = {}
        made: dict[Any, Any] = {}
        cells = self._cells(snap)
        for n, related in enumerate(form.related_lists):
            if (wanted := self._related_read(actor, snap, obj, related)) is not None:
                reads[("related", n)], made[("related", n)] = wanted, _ListFace.of(wanted, cells)
        for t, timeline in enumerate(form.timelines):
            for n, source in enumerate(timeline.sources):
                if (timed := self._timeline_read(actor, snap, obj, timeline, source)) is not None:
                    read, name_field, columns = timed
                    shows = tuple((c, cell_label(read.child, c), cells.column(read.child, c)) for c in columns)
                    reads[("timeline", t, n)], made[("timeline", t, n)] = read, (read, name_field, shows)
        plan = list(reads), list(reads.values()), made
        if len(plans) > 2000:
            plans.clear()
        plans[key] = (form, plan)
        return plan

    def placed_relations(self, actor: Actor, object_name: str, record_id: int) -> set[str]:
        """The relations the form chosen for the user and the record lists in a related
        list of its own (the record page leaves out its automatic card of the same)."""
        with self.kernel.read() as conn:
            stored = self._stored(actor, object_name, record_id)
            snap = self.kernel.snapshot(conn)
            filling = self._fill(conn, snap, actor, snap.object(object_name), None, stored, {})
        return {r.relation for r in filling.form.related_lists}

    def _timelines(self, actor: Actor, snap: Snapshot, obj: ObjectDef, form: Form,
                   record_id: int | None, pages: Pages | None = None) -> dict[str, TimelineRows]:
        """Each timeline's entries (none for a new record): per relation, its newest records
        by the source's date, as the user may read them, merged and cut to the limit."""
        if record_id is None or not form.timelines:
            return {}
        if pages is None:
            pages = self._pages(actor, snap, obj, form, record_id)
        cells = self._cells(snap)
        zone = time_zone(actor.time_zone)
        out: dict[str, TimelineRows] = {}
        for t, timeline in enumerate(form.timelines):
            found: list[tuple[Any, TimelineEntry]] = []
            more = False
            for n, source in enumerate(timeline.sources):
                wanted, page = pages.get(("timeline", t, n), (None, None))
                if wanted is None or page is None:
                    continue  # an object the user may not read, or a field hidden from them
                read, name_field, shows = wanted
                child = read.child
                more = more or page.more
                for row in page.data:
                    at = row.get(source.date)
                    dated = cells.moment(at, zone)
                    if dated is None:
                        continue  # no date: nowhere on a timeline
                    name = str(row.get(name_field) or "") if name_field else ""
                    shown = tuple((label, show(row)) for c, label, show in shows if row.get(c) not in (None, ""))
                    found.append((dated[0], TimelineEntry(child.api_name, child.label, int(row["id"]),
                                                          name or f"#{row['id']}", str(at), dated[1], shown)))
            found.sort(key=lambda item: item[0], reverse=True)
            more = more or len(found) > timeline.limit
            out[timeline.path] = TimelineRows(tuple(e for _m, e in found[:timeline.limit]), more)
        return out


@dataclass(frozen=True)
class _ListFace:
    """How a related list shows, the same on every page of a snapshot, form and access: its
    child object, title, columns (name, label), how each shows a row's cell, and its "More…"
    filter but for the record's id."""

    object: str
    label: str
    columns: tuple[tuple[str, str], ...]
    shows: tuple[Show, ...]
    filter: str

    @staticmethod
    def of(wanted: ListRead, cells: Cells) -> _ListFace:
        child, lookup = wanted.hops[-1]
        columns = wanted.fields or []
        return _ListFace(child.api_name, str(lookup.props.get("related_label") or child.plural_label),
                         tuple((c, cell_label(child, c)) for c in columns),
                         tuple(cells.column(child, c) for c in columns),
                         relation_filter_head(wanted.hops))


def _references(child: ObjectDef, columns: list[str]) -> list[str]:
    """The lookup and user columns of a related list, to read with the names they point at."""
    return [c for c in columns if (f := child.field(c)) is not None and f.type in ("lookup", "user")]


def _nothing_carried() -> None:
    """No statement carried the revisions (none was sent): `snapshot` reads them."""
    return None


def _record_id(record_id: Any) -> int:
    if isinstance(record_id, bool) or not isinstance(record_id, int) or not 0 < record_id < 2**63:
        raise InvalidInput("record_id must be a record's id.", [FieldProblem("record_id", "must be an id")])
    return record_id


def _values(values: Any) -> dict[str, Any]:
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise InvalidInput("Send the form's values as a JSON object.",
                           [FieldProblem("values", "must be an object of field values")])
    return values


def _typed_record(obj: ObjectDef, stored: Mapping[str, Any], cells: Cells) -> dict[str, Any]:
    """A record as the API returns it, as the stored Python values formulas read."""
    out: dict[str, Any] = {name: stored.get(name) for name in _SYSTEM_IDS}
    for name in _SYSTEM_TIMES:
        value = stored.get(name)
        out[name] = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    for fdef in obj.line_fields:
        if isinstance(stored.get(fdef.api_name), list):
            out[fdef.api_name] = stored[fdef.api_name]  # the lines as the API gives them, for the grid
    for name, fdef, computed in cells.fields(obj):
        if name not in stored:
            continue
        value = stored[name]
        if computed:
            out[name] = value  # shown as it came; worked out again when a condition reads it
            continue
        coerced = cells.typed(obj, fdef, name, value)
        out[name] = value if coerced is None and value is not None else coerced
    return out


def _children(snap: Snapshot, obj: ObjectDef) -> dict[str, ObjectDef]:
    """The child object of each line-items field of `obj`, by field."""
    return {f.api_name: child for f in obj.line_fields
            if (child := snap.objects.get(str(f.props.get("target")))) is not None}


def _line_choices(snap: Snapshot, obj: ObjectDef, hidden: frozenset[str]) -> dict[str, dict[str, Any]]:
    """For the designer, per line-items field: its child object and the child's fields a
    builder may choose as columns (in the child's order)."""
    out: dict[str, dict[str, Any]] = {}
    for name, child in _children(snap, obj).items():
        if name in hidden:
            continue
        fdef = obj.line_field(name)
        shown = [f.api_name for f in line_columns(None, fdef, child)] if fdef is not None else []
        out[name] = {"target": child.api_name, "label": child.label, "plural_label": child.plural_label,
                     "default": shown,
                     "fields": [{"api_name": f.api_name, "label": f.label, "type": f.type} for f in choosable(child)]}
    return out
