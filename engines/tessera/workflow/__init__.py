"""The workflow engine: approval and process flows (documents of kind `flows`), their
validation, and a pure in-memory executor whose whole per-instance state is a small
JSON-able dict.

    problems = flow_problems(doc, schema)             # before publishing; [] when fine
    flow = compile_flow(doc)                          # once per published version
    ex = Executor(flow)
    env = Env(now, record, evaluate, people)          # the runtime's clock, record and callbacks
    state, effects = ex.start(env, submitter=7)
    state, effects = ex.decide(state, env, "legal#11", Decision("approve", by=31, comment="fine"))
    state, effects = ex.timer_fired(state, env, "legal#10:remind")

Each call is one transition: the runtime runs it inside one database transaction and
applies the returned effects (tasks, timers, history, actions, the record lock) there.

Pure (layer 4 over 1): it uses tessera.meta and tessera.formula only; the database, the
clock, formula evaluation and people resolution come in as arguments.
"""

from __future__ import annotations

from tessera.workflow.definition import (
    Flow,
    FlowError,
    FlowFormula,
    Step,
    compile_flow,
    flow_formulas,
    flow_problems,
    parse_duration,
    people_references,
    structure_problems,
    trigger_matches,
)
from tessera.workflow.effects import (
    CancelTimer,
    CloseTask,
    Effect,
    Finished,
    History,
    LockRecord,
    Notify,
    OpenTask,
    RunAction,
    ScheduleTimer,
    UnlockRecord,
)
from tessera.workflow.executor import (
    FINAL,
    Decision,
    Env,
    Evaluate,
    Executor,
    ResolvePeople,
    Transition,
    TransitionError,
    is_finished,
    locked_fields,
    open_tasks,
    task_step,
)

__all__ = [
    "FINAL", "CancelTimer", "CloseTask", "Decision", "Effect", "Env", "Evaluate", "Executor", "Finished", "Flow",
    "FlowError", "FlowFormula", "History", "LockRecord", "Notify", "OpenTask", "ResolvePeople", "RunAction",
    "ScheduleTimer", "Step", "Transition", "TransitionError", "UnlockRecord", "compile_flow", "flow_formulas",
    "flow_problems", "is_finished", "locked_fields", "open_tasks", "parse_duration", "people_references",
    "structure_problems", "task_step", "trigger_matches",
]
