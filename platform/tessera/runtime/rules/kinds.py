"""Rules, business calendars and SLA policies as metadata documents: their schemas, and
their checks against the metadata (the rules engine's, then each registry action's)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from tessera.actions import check_actions
from tessera.meta.documents import base_schema
from tessera.rules import calendar_problems, rule_formulas, rule_problems, sla_policy_problems
from tessera.rules.sla import sla_policy_formulas
from tessera.runtime.metadata.documents import DocumentFormula, DocumentKind


def rule_document_problems(doc: Mapping[str, Any], schema: Any) -> list[Any]:
    """A rule document's problems: the engine's checks, then its registry actions'."""
    problems = rule_problems(doc, schema, check_formulas=False)
    if problems:
        return problems
    obj = schema.object(str(doc["object"]))
    registry = [(i, a) for i, a in enumerate(doc.get("actions", [])) if a["action"] not in ("set_fields", "refuse")]
    for index, action in registry:
        for problem in check_actions([action], obj, schema, "/actions"):
            problem.field = problem.field.replace("/actions/0", f"/actions/{index}", 1)
            problems.append(problem)
    return problems


def _calendar_check(doc: Mapping[str, Any], schema: Any) -> list[Any]:
    return calendar_problems(doc)


def _rule_formulas(doc: Mapping[str, Any], schema: Any) -> list[DocumentFormula]:
    # Checked by the document service, and kept in the dependency graph: a renamed
    # field is renamed in the rules that read it.
    return [DocumentFormula(f.path, f.object, f.source, f.expect) for f in rule_formulas(doc, schema)]


def _sla_check(doc: Mapping[str, Any], schema: Any) -> list[Any]:
    known = schema.documents("calendars") if hasattr(schema, "documents") else None
    calendars = None if known is None else set(known)
    problems = sla_policy_problems(doc, schema, calendars=calendars, check_formulas=False)
    # The document service checks the JSON Schema first: the actions are well-formed here.
    obj = schema.object(str(doc["object"]))
    for key in ("warning_actions", "breach_actions") if obj is not None else ():
        problems += check_actions(doc.get(key, []), obj, schema, f"/{key}")
    return problems


def _sla_formulas(doc: Mapping[str, Any], schema: Any) -> list[DocumentFormula]:
    # applies_when, cancel_when, achieved_when, starts_when: type-checked as conditions and
    # kept in the dependency graph, so a renamed field is renamed in the policy too.
    return [DocumentFormula(path, str(doc["object"]), source) for path, source in sla_policy_formulas(doc)]


RULES = DocumentKind("rules", "Rule", "rul", lambda: base_schema("rules"), check=rule_document_problems,
                     formulas=_rule_formulas)


def rules_kind(more: Callable[[Mapping[str, Any]], list[Any]]) -> DocumentKind:
    """The rules kind whose check also asks the running platform (`more(doc)`: a team an
    assignment names must exist)."""

    def check(doc: Mapping[str, Any], schema: Any) -> list[Any]:
        return [*rule_document_problems(doc, schema), *more(doc)]

    return replace(RULES, check=check)


CALENDARS = DocumentKind("calendars", "Business calendar", "cal", lambda: base_schema("calendars"),
                         check=_calendar_check, names=lambda doc, schema: [])
SLA_POLICIES = DocumentKind("sla_policies", "SLA policy", "sla", lambda: base_schema("sla_policies"),
                            check=_sla_check, formulas=_sla_formulas)

KINDS = (RULES, CALENDARS, SLA_POLICIES)
