"""Benchmarks of flows persisted in the database, and of timers.

1. End to end on a database: start a two-step approval with a parallel pair, decide its
   three approvals one transition at a time, and see it end approved — through Tessera's
   FlowService (instance row locked, the executor, tasks, history, timers, notifications,
   each transition one transaction) vs. SpiffWorkflow running the same BPMN process with
   its serialized workflow loaded and saved in the same database at every wait state
   (one transaction per transition too). Target: Tessera at least 2x.
2. Firing 1,000 due timers among 100,000 pending vs. among 1,000 pending: the due-time
   index makes the cost independent of what is pending. Target: within 1.5x.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from benchmarks.bench_workflow import FLOW, spiff_spec
from benchmarks.common import OBJECT, Result, Setup, at_least, at_most, interleaved_medians, timed
from tessera.auth.actor import Actor
from tessera.data.tables import flow_instances, timers

SYSTEM = Actor.system()
_SPIFF = sa.Table("bench_spiff_state", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                  sa.Column("state", sa.Text, nullable=False))


def _prepare_flow(setup: Setup, count: int) -> tuple[list[int], dict[str, Actor]]:
    rt = setup.runtime
    actors: dict[str, Actor] = {}
    for role in ("a", "b", "c"):
        rt.users.roles.create(SYSTEM, {"api_name": role, "label": role, "permissions": {}}, rt.snapshot)
        user = rt.users.accounts.add(SYSTEM, {"email": f"{role}@bench.example.com", "name": role,
                                              "password": "a-long-password", "roles": [role]})
        actors[role] = rt.users.actor_for_user(int(user["id"]))
    rt.documents.create(SYSTEM, "flows", {**FLOW, "object": OBJECT})
    rt.flows.publish(SYSTEM, "two_step")
    rt.records.create_many(setup.actor, OBJECT, [{"name": f"r{i}", "rank": i} for i in range(count)])
    with rt.read() as conn:
        ids = list(conn.execute(sa.select(setup.table.c.id).order_by(setup.table.c.id)).scalars())
    return ids, actors


def tessera_flows(setup: Setup, record_ids: list[int], actors: dict[str, Actor]) -> int:
    rt = setup.runtime
    approved = 0
    for record_id in record_ids:
        instance = rt.flows.start(setup.actor, "two_step", record_id)
        for step, role in (("task_a", "a"), ("task_b", "b"), ("task_c", "c")):
            task = next(t["id"] for t in instance["tasks"] if t["step"] == step and t["status"] == "open")
            instance = rt.flows.act(actors[role], task, {"action": "approve"})
        approved += instance["status"] == "approved"
    return approved


def spiff_flows(engine: sa.Engine, spec: Any, count: int) -> int:
    serializer = BpmnWorkflowSerializer()
    completed = 0
    for _ in range(count):
        workflow = BpmnWorkflow(spec)
        workflow.do_engine_steps()
        with engine.begin() as conn:
            row_id = conn.execute(sa.insert(_SPIFF).values(state=serializer.serialize_json(workflow))
                                  .returning(_SPIFF.c.id)).scalar_one()
        while True:
            with engine.begin() as conn:
                query = sa.select(_SPIFF.c.state).where(_SPIFF.c.id == row_id)
                if engine.dialect.name == "postgresql":
                    query = query.with_for_update()
                workflow = serializer.deserialize_json(conn.execute(query).scalar_one())
                ready = workflow.get_tasks(state=TaskState.READY, manual=True)
                if not ready:
                    break
                ready[0].run()  # one decision per transition, as people make them
                workflow.do_engine_steps()
                conn.execute(sa.update(_SPIFF).where(_SPIFF.c.id == row_id)
                             .values(state=serializer.serialize_json(workflow)))
        completed += workflow.is_completed()
    return completed


def run_persisted(setup: Setup, count: int, repeat: int) -> list[Result]:
    spec = spiff_spec()
    _SPIFF.metadata.create_all(setup.engine)
    ids, actors = _prepare_flow(setup, count * (repeat + 1) + 5)
    batches = iter([ids[i:i + count] for i in range(5, len(ids), count)])
    if tessera_flows(setup, ids[:5], actors) != 5 or spiff_flows(setup.engine, spec, 5) != 5:
        raise RuntimeError("an instance did not finish: the two processes are not equivalent")
    with setup.runtime.read() as conn:
        sizes = [len(str(s)) for s in conn.execute(sa.select(flow_instances.c.state)).scalars()]
    ours_s, theirs_s = interleaved_medians(
        [lambda: tessera_flows(setup, next(batches), actors), lambda: spiff_flows(setup.engine, spec, count)],
        repeat, warmup=0)
    setup.notes.append(f"flows ({setup.backend}): {count} instances per run, 4 transactions each; the state of a "
                       f"finished instance is {max(sizes)} characters of JSON (history kept in its own rows)")
    return [at_least("flow approval persisted vs SpiffWorkflow", setup.backend, count / ours_s, count / theirs_s,
                     "inst/s", 2)]


def run_timers(setup: Setup, due: int, pending: int, repeat: int) -> list[Result]:
    rt = setup.runtime
    fired: list[int] = []
    rt.timers.register("bench.noop", lambda conn, params, at: fired.append(1))
    now = datetime.now(UTC)

    def load(waiting: int) -> None:
        setup.truncate("tessera_timers")
        rows = [{"kind": "bench.noop", "key": f"p{i}", "due_at": now + timedelta(days=1 + i % 300), "params": {},
                 "attempts": 0, "created_at": now} for i in range(waiting)]
        rows += [{"kind": "bench.noop", "key": f"d{i}", "due_at": now - timedelta(seconds=i % 600), "params": {},
                  "attempts": 0, "created_at": now} for i in range(due)]
        with setup.engine.begin() as conn:
            for start in range(0, len(rows), 10_000):
                conn.execute(sa.insert(timers), rows[start:start + 10_000])
            if setup.backend == "postgresql":
                conn.exec_driver_sql("ANALYZE tessera_timers")

    def fire_all() -> None:
        while rt.timers.fire_due():
            pass

    spent: dict[int, list[float]] = {due: [], pending: []}
    for _ in range(repeat):
        for waiting in (due, pending):
            load(waiting)
            spent[waiting].append(timed(fire_all))
    assert len(fired) == 2 * repeat * due, "every due timer fires once"
    few, many = sorted(spent[due])[repeat // 2], sorted(spent[pending])[repeat // 2]
    return [at_most(f"fire {due:,} due timers among {pending:,} vs {due:,} pending", setup.backend, many, few, 1.5)]
