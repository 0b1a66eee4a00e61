"""Tessera's rules engine, the pure part: business calendars and business time, the SLA
clock, rule documents and their checks, and the choices behind assignment.

    cal = calendar_from_document(doc)                    # a `calendars` document
    due = add_business_time(created_at, timedelta(hours=4), cal)
    clock = sla.start("first_reply", timedelta(hours=2), cal, created_at, warn_fraction=0.75)
    clock, events = sla.check(clock, now)                # ["warning"] / ["breach"] / []
    problems = rule_problems(rule_doc, schema)           # [] or FieldProblems at JSON pointers
    rule = parse_rule(rule_doc); matches_trigger(rule, "updated", {"stage"})

Layer 4: it uses tessera.meta and tessera.formula, never a database or the web; the
runtime stores clocks and rules, runs actions and timers, and evaluates formulas.
"""

from __future__ import annotations

from tessera.rules import sla
from tessera.rules.assignment import NoMembers, by_attribute, least_open, round_robin
from tessera.rules.calendar import (
    WEEKDAYS,
    BusinessCalendar,
    CalendarError,
    add_business_time,
    business_time_between,
    calendar_from_document,
    calendar_problems,
    is_business_time,
    next_business_time,
)
from tessera.rules.definition import (
    BEFORE_SAVE_ACTIONS,
    EVENTS,
    KINDS,
    SAVE_TRIGGERS,
    STRATEGIES,
    TRIGGERS,
    Action,
    Assignment,
    Rule,
    RuleFormula,
    Scoring,
    ScoringRule,
    Segment,
    Trigger,
    date_relative_runs,
    matches_trigger,
    next_run,
    ordered,
    parse_rule,
    parse_rules,
    rule_fields,
    rule_formulas,
    rule_problems,
)
from tessera.rules.sla import (
    MetricClock,
    MetricPolicy,
    SlaPolicy,
    Stage,
    parse_duration,
    parse_sla_policy,
    sla_policy_problems,
)

__all__ = [
    "BEFORE_SAVE_ACTIONS", "EVENTS", "KINDS", "SAVE_TRIGGERS", "STRATEGIES", "TRIGGERS", "WEEKDAYS", "Action",
    "Assignment", "BusinessCalendar", "CalendarError", "MetricClock", "MetricPolicy", "NoMembers", "Rule",
    "RuleFormula", "Scoring", "ScoringRule", "Segment", "SlaPolicy", "Stage", "Trigger", "add_business_time",
    "business_time_between", "by_attribute", "calendar_from_document", "calendar_problems", "date_relative_runs",
    "is_business_time", "least_open", "matches_trigger", "next_business_time", "next_run", "ordered",
    "parse_duration", "parse_rule", "parse_rules", "parse_sla_policy", "round_robin", "rule_fields", "rule_formulas",
    "rule_problems", "sla", "sla_policy_problems",
]
