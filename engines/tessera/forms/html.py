"""A form as HTML: Jinja2 templates from builder-ui, each field type rendering its widget.

A field type names its template (`widget_template`) and gives what it needs
(`widget_context(field, value)`); this module adds what every widget shares (name, id,
label, help, required, read-only, errors) and renders tabs, sections, columns, related
lists and buttons around the widgets. Autoescaping is always on: a record value or a
label is text, never markup, wherever it comes from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from jinja2 import BaseLoader, Environment, FileSystemLoader, TemplateNotFound
from markupsafe import Markup

from tessera.forms.grid import Grid
from tessera.forms.layout import Form, Placement
from tessera.forms.lines import column_props, columns, placeable
from tessera.forms.state import FieldState, FormState
from tessera.meta.model import FieldDef, ObjectDef

FORM_TEMPLATE = "forms/form.html"
_PLUGIN_DIRS: list[Path] = []


def register_templates(directory: Path | str) -> None:
    """Let plugins' field types name templates kept in `directory` (e.g. `widgets/iban.html`)."""
    path = Path(directory)
    if path not in _PLUGIN_DIRS:
        _PLUGIN_DIRS.append(path)


class _Loader(BaseLoader):
    """Templates from the renderer's directories, then from those plugins registered (at
    any time, even after the renderer was made)."""

    def __init__(self, directories: list[Path]) -> None:
        self.directories = directories

    def get_source(self, environment: Environment, template: str) -> Any:
        for directory in [*self.directories, *_PLUGIN_DIRS]:
            try:
                return FileSystemLoader(directory).get_source(environment, template)
            except TemplateNotFound:
                continue
        raise TemplateNotFound(template)


@dataclass(frozen=True)
class RelatedRows:
    """The rows a related list shows: each row's id and its cells as display text."""

    object: str
    label: str
    columns: tuple[tuple[str, str], ...]
    rows: tuple[tuple[int, tuple[str, ...]], ...] = ()
    more: bool = False
    #: The list filter of all the records the list holds (for its "More…" link).
    filter: str = ""


@dataclass(frozen=True)
class TimelineEntry:
    """One record on a timeline: its object, id and name, when (as stored and as read) and
    the texts of the columns shown beside it (label, value)."""

    object: str
    object_label: str
    id: int
    name: str
    at: str
    when: str
    cells: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class TimelineRows:
    """What a timeline shows: its entries newest first, and whether older ones were left out."""

    entries: tuple[TimelineEntry, ...] = ()
    more: bool = False


@dataclass(frozen=True)
class FormUrls:
    """Where the rendered form sends things: the submit and state endpoints."""

    submit: str
    state: str


@dataclass
class FieldView:
    """What every widget template gets as `field`, whatever its type."""

    name: str
    id: str
    type: str
    label: str
    help: str = ""
    required: bool = False
    read_only: bool = False
    visible: bool = True
    display: str = ""
    errors: list[str] = field(default_factory=list)
    #: What this placement says beyond the shared properties. Line items: `columns`, the
    #: names of the child's fields the grid shows, in order; `column_fields`, those fields'
    #: documents (label, type, options…); `target`, the child object.
    props: dict[str, Any] = field(default_factory=dict)


class FormRenderer:
    """Renders widgets and forms from the templates in `directories` (builder-ui's first)."""

    def __init__(self, *directories: Path | str) -> None:
        self.directories = [Path(d) for d in directories]
        self.env = Environment(
            loader=_Loader(self.directories),
            autoescape=True, trim_blocks=True, lstrip_blocks=True, auto_reload=False,
        )

    def widget(self, fdef: FieldDef, value: Any, *, placement: Placement | None = None,
               state: FieldState | None = None, errors: Sequence[str] = (), raw: Any = None,
               display: str | None = None, id_prefix: str = "f-", zone: tzinfo = UTC,
               child: ObjectDef | None = None, line_errors: Mapping[str, Sequence[str]] | None = None,
               grid: Grid | None = None) -> Markup:
        """One field's widget. `value` is the stored value (None: blank); `raw` what the
        user typed when it did not convert (shown back to them with `errors`); `display`
        the text for a reference (a lookup's record name) instead of the bare id. Dates and
        times are shown in `zone`, the reader's. Line items show the columns the placement
        chose among `child`'s fields: the field type's `widget_context` reads them in the
        field's `columns`, the template in `field.props` (with `line_errors`, the problems
        of single lines by their path, `lines[2].quantity`, and `grid`, the lines' cells and
        totals as the caller worked them out: forms/grid.py)."""
        ftype = fdef.ftype
        props: dict[str, Any] = {}
        if ftype.lines:
            shown_columns = columns(placement, fdef, child)
            names = [f.api_name for f in shown_columns]
            fdef = FieldDef({**fdef.props, "columns": names})
            props = {"target": fdef.props.get("target"), "columns": names,
                     "column_fields": column_props(shown_columns),
                     "line_errors": {k: list(v) for k, v in (line_errors or {}).items()}, "grid": grid}
        if isinstance(value, datetime):
            value = value.astimezone(zone)
        widget = dict(ftype.widget_context(fdef, value))
        if "zone" in widget:
            widget["zone"] = str(getattr(zone, "key", None) or zone.tzname(None) or "UTC").replace("_", " ")
        if isinstance(raw, str):
            widget["value"] = raw
        shown = display if display is not None else widget.get("display", ftype.display(fdef, value))
        view = FieldView(
            name=fdef.api_name, id=f"{id_prefix}{fdef.api_name}", type=fdef.type,
            label=(placement.label if placement and placement.label else fdef.label),
            help=(placement.help if placement and placement.help else fdef.help_text),
            required=state.required if state else fdef.required,
            read_only=state.read_only if state else fdef.read_only,
            visible=state.visible if state else True,
            display=str(shown), errors=list(errors), props=props,
        )
        template = self.env.get_template(ftype.widget_template)
        return Markup(template.render(field=view, widget=widget))

    def form(self, form: Form, obj: ObjectDef, record: Mapping[str, Any], state: FormState, urls: FormUrls, *,
             errors: Mapping[str, Sequence[str]] | None = None, raw: Mapping[str, Any] | None = None,
             displays: Mapping[str, str] | None = None, related: Mapping[str, RelatedRows] | None = None,
             timelines: Mapping[str, TimelineRows] | None = None, record_id: int | None = None,
             version: int | None = None, id_prefix: str = "f-",
             zone: tzinfo = UTC, children: Mapping[str, ObjectDef] | None = None,
             grids: Mapping[str, Grid] | None = None) -> str:
        """The whole form for `record` (stored values, by api_name) in `state`. `children`
        are the child objects of the line-items fields, by field; `grids` their grids."""
        errors, raw, displays, children = errors or {}, raw or {}, displays or {}, children or {}
        widgets: dict[str, Markup] = {}
        placed_lines: dict[str, list[str]] = {}  # problems of single lines, shown by their grid
        for p in form.placements:
            fdef = placeable(obj, p.field)
            placed = state.fields.get(p.field)
            if fdef is None or placed is None or p.field in widgets:
                continue
            mine = list(errors.get(p.field, ()))
            cells: dict[str, list[str]] = {}
            if fdef.ftype.lines:
                cells = {name: list(ms) for name, ms in errors.items() if name.startswith(f"{p.field}[")}
                mine += [f"{_line_place(name, children.get(p.field))}: {m}" for name, ms in cells.items() for m in ms]
            widgets[p.field] = self.widget(
                fdef, record.get(p.field), placement=p, state=placed, errors=mine,
                raw=raw.get(p.field), display=displays.get(p.field), id_prefix=id_prefix, zone=zone,
                child=children.get(p.field), line_errors=cells, grid=(grids or {}).get(p.field))
            if cells:
                placed_lines.update(cells)
        loose = [m for name, ms in errors.items() if name not in widgets and name not in placed_lines for m in ms]
        template = self.env.get_template(FORM_TEMPLATE)
        return template.render(
            form=form, obj=obj, widgets=widgets, state=state, urls=urls, related=related or {},
            timelines=timelines or {},
            record_id=record_id, version=version, errors=loose, form_id=f"{id_prefix}form",
        )


def _line_place(path: str, child: ObjectDef | None) -> str:
    """Where a problem of one line is, in words: `lines[2].quantity` → "Line 3, Quantity"."""
    head, _, rest = path.partition("]")
    number = head.rpartition("[")[2]
    place = f"Line {int(number) + 1}" if number.isdigit() else path
    name = rest.lstrip(".").split(".")[0].split("[")[0]
    fdef = child.field(name) if child is not None and name else None
    if name and name != "id":
        place += f", {fdef.label if fdef is not None else name}"
    return place
