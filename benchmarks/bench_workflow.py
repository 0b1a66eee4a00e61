"""Benchmark: the workflow executor in memory, against SpiffWorkflow running the same process.

The process: a user task A, then a parallel gateway to user tasks B and C, joined, then
the end (Tessera: an approval step, then a parallel step with one approval in each
branch, join all). Each side runs many whole instances — start, complete A, complete B,
complete C, check it finished — with its definition parsed once beforehand (Tessera's
`compile_flow`, SpiffWorkflow's `BpmnParser.get_spec`), in the same process, round-robin.

Tessera's side does all its real work: it copies the state on every transition, produces
its effects (tasks, history, the finish) and returns a JSON-able state. SpiffWorkflow's
side does the least it can: its workflow stays a Python object (serializing it, as a
runtime storing it between transitions must, would cost it more) and its user tasks are
completed directly with `task.run()`. No database on either side.

    python -m benchmarks.bench_workflow [--instances N] [--repeat R]
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from SpiffWorkflow.bpmn.parser import BpmnParser
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from benchmarks.common import Result, at_least, interleaved_medians, render
from tessera.workflow import Decision, Env, Executor, OpenTask, compile_flow

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  id="Definitions_1" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="two_step" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="task_a" name="A">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:parallelGateway id="fork"><bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing><bpmn:outgoing>f4</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:userTask id="task_b" name="B">
      <bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing></bpmn:userTask>
    <bpmn:userTask id="task_c" name="C">
      <bpmn:incoming>f4</bpmn:incoming><bpmn:outgoing>f6</bpmn:outgoing></bpmn:userTask>
    <bpmn:parallelGateway id="join"><bpmn:incoming>f5</bpmn:incoming><bpmn:incoming>f6</bpmn:incoming>
      <bpmn:outgoing>f7</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:endEvent id="end"><bpmn:incoming>f7</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="task_a"/>
    <bpmn:sequenceFlow id="f2" sourceRef="task_a" targetRef="fork"/>
    <bpmn:sequenceFlow id="f3" sourceRef="fork" targetRef="task_b"/>
    <bpmn:sequenceFlow id="f4" sourceRef="fork" targetRef="task_c"/>
    <bpmn:sequenceFlow id="f5" sourceRef="task_b" targetRef="join"/>
    <bpmn:sequenceFlow id="f6" sourceRef="task_c" targetRef="join"/>
    <bpmn:sequenceFlow id="f7" sourceRef="join" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""

FLOW: dict[str, Any] = {
    "api_name": "two_step", "label": "Two-step approval", "object": "bench", "trigger": {"on": "button"},
    "steps": [
        {"id": "task_a", "type": "approval", "approvers": [{"role": "a"}]},
        {"id": "pair", "type": "parallel", "join": "all", "branches": [
            {"steps": [{"id": "task_b", "type": "approval", "approvers": [{"role": "b"}]}]},
            {"steps": [{"id": "task_c", "type": "approval", "approvers": [{"role": "c"}]}]}]},
    ],
}
PEOPLE = {"a": [101], "b": [102], "c": [103]}
SUBMITTER = 100


def _people(specs: Any, record: Any, submitter: int | None) -> list[int]:
    return [user for spec in specs for user in PEOPLE[spec["role"]]]


def _evaluate(source: str, record: Any) -> Any:
    raise AssertionError("the benchmark flow has no formulas")


def tessera_instances(count: int) -> int:
    """`count` whole instances on the in-memory executor; how many ended approved."""
    executor = Executor(compile_flow(FLOW))
    env = Env(datetime(2024, 1, 1, tzinfo=UTC), {"id": 1}, _evaluate, _people)
    approved = 0
    for _ in range(count):
        state, effects = executor.start(env, SUBMITTER)
        pending = [(e.key, e.user) for e in effects if isinstance(e, OpenTask)]
        while pending:
            key, user = pending.pop(0)
            state, effects = executor.decide(state, env, key, Decision("approve", user))
            pending += [(e.key, e.user) for e in effects if isinstance(e, OpenTask)]
        approved += state["status"] == "approved"
    return approved


def spiff_instances(count: int, spec: Any) -> int:
    """`count` whole instances of the BPMN process on SpiffWorkflow; how many completed."""
    completed = 0
    for _ in range(count):
        workflow = BpmnWorkflow(spec)
        workflow.do_engine_steps()
        ready = workflow.get_tasks(state=TaskState.READY, manual=True)
        while ready:
            for task in ready:
                task.run()
            workflow.do_engine_steps()
            ready = workflow.get_tasks(state=TaskState.READY, manual=True)
        completed += workflow.is_completed()
    return completed


def spiff_spec() -> Any:
    parser = BpmnParser()
    parser.add_bpmn_str(BPMN.encode())
    return parser.get_spec("two_step")


def run(instances: int, repeat: int, notes: list[str]) -> list[Result]:
    spec = spiff_spec()
    # Both must finish every instance before anything is timed.
    if tessera_instances(5) != 5 or spiff_instances(5, spec) != 5:
        raise RuntimeError("an instance did not finish: the two processes are not equivalent")

    def ours() -> int:
        return tessera_instances(instances)

    def theirs() -> int:
        return spiff_instances(instances, spec)

    ours_s, theirs_s = interleaved_medians([ours, theirs], repeat, warmup=1)
    notes.append(f"workflow: {instances:,} instances of start → A → (B ∥ C) → end per run, median of {repeat}; "
                 "SpiffWorkflow keeps its workflow as Python objects (no serialization), Tessera returns JSON "
                 "state and effects on every transition")
    return [at_least("workflow two-step approval vs SpiffWorkflow", "python", instances / ours_s,
                     instances / theirs_s, "inst/s", 10)]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_workflow")
    parser.add_argument("--instances", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    notes: list[str] = []
    print(render(run(args.instances, args.repeat, notes)))
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
