"""Tessera's forms engine: the layout of a form document, the JSON Schema of what it
accepts, which fields are visible, required and read-only for the values at hand, the
server-side checks of a submission, and the HTML, each field type rendering its widget.

    form = parse(doc)                                   # or generated(obj) when none exists
    problems = form_problems(doc, schema)               # names that do not exist, …
    now = state(form, obj, record, evaluate)            # evaluate(source, record) → value
    values, bad = coerce_values(obj, submitted)
    problems = submission_problems(form, obj, submitted, now, record, bad)
    html = FormRenderer(templates_dir).form(form, obj, record, now, urls)

Pure (layer 4): it reads metadata (tessera.meta) and formulas (tessera.formula), and gets
everything else — the formula evaluator, the record, the template directory — as arguments.
"""

from __future__ import annotations

from tessera.forms.checks import (
    EXPECTABLE,
    form_problems,
    formula_expectations,
    relation_filter,
    relation_filter_head,
    relation_path,
    relations,
    value_problem,
)
from tessera.forms.html import FieldView, FormRenderer, FormUrls, RelatedRows, TimelineRows, register_templates
from tessera.forms.layout import (
    Button,
    Column,
    Form,
    Formula,
    NameRef,
    Placement,
    RelatedList,
    Section,
    Tab,
    Timeline,
    TimelineSource,
    generated,
    generated_document,
    parse,
)
from tessera.forms.schema import json_schema
from tessera.forms.state import Evaluate, FieldState, FormState, applies, choose, chosen_ahead, state
from tessera.forms.submission import coerce_values, posted_values, submission_problems, unchanged

__all__ = [
    "EXPECTABLE", "Button", "Column", "Evaluate", "FieldState", "FieldView", "Form", "FormRenderer", "FormState",
    "FormUrls", "Formula", "NameRef", "Placement", "RelatedList", "RelatedRows", "Section", "Tab", "Timeline",
    "TimelineRows", "TimelineSource", "applies", "choose", "chosen_ahead", "coerce_values", "form_problems",
    "formula_expectations", "generated", "generated_document", "json_schema", "parse", "posted_values",
    "register_templates", "relation_filter", "relation_filter_head", "relation_path", "relations", "state",
    "submission_problems", "unchanged", "value_problem",
]
