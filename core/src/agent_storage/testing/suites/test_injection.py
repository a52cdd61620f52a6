"""Injection: SQL and DynamoDB-expression attack strings through every string parameter.

Each string of :data:`CORPUS` goes through ids, owners, titles, metadata keys and values
(also as filters), roles/types filters, workflow names and statuses, scorer ids, span
names and types, agent names and metadata filters. It is either stored as plain data and
read back exactly (and a filter on it matches exactly its own row, no more), or refused
with a typed error. ``order_by``/``direction`` never reach a query: anything but the
documented names is a ValidationError. Index specs are parsed, never pasted; table_prefix
and schema are identifiers checked at ``open_store``. Afterwards the seeded canary rows
are intact.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from agent_storage import (
    AgentConfig,
    ConfigurationError,
    IndexSpec,
    InvalidIdentifierError,
    InvalidIndexSpecError,
    Message,
    NotSupportedError,
    Score,
    Span,
    Thread,
    ValidationError,
)
from agent_storage.serde import to_wire
from agent_storage.testing._helpers import T0, reopen, ts
from agent_storage.testing.suites.test_bad_input import (
    AGENT,
    FLOW,
    OWNER,
    OWNER2,
    RESOURCE,
    RUN,
    T1,
    T2,
    TRACE,
    seed,
)

pytestmark = pytest.mark.asyncio

CORPUS: tuple[str, ...] = (
    "'; DROP TABLE x; --",
    "'); DELETE FROM threads; --",
    '" OR "1"="1',
    "' OR '1'='1",
    "1) OR (1=1",
    "1 OR 1=1",
    "x' UNION SELECT name, sql FROM sqlite_master --",
    "'||(SELECT current_user)||'",
    "$$; DROP SCHEMA public CASCADE; $$",
    "#pk = :v",
    "attribute_exists(pk)",
    "pk = :pk OR attribute_not_exists(sk)",
    "begins_with(sk, :p)",
    "$ne",
    '{"$ne": null}',
    "\\",
    "\\'",
    '\\\\"',
    "\u2018unicode\u2019 \u201cquotes\u201d \uff07fullwidth\uff07",
    "%s",
    "%(name)s",
    "{}",
    "{0}",
    ":p",
    "?",
    "$1",
    "--",
    "/* comment */",
    "%",
    "_",
    "*",
    "$.a[0]",
    "a.b",
    "THREAD#x",
    "null",
    "true",
    "0",
    "a b ",  # spaces (a whitespace-only id is refused: test_bad_input.py)
)
#: The corpus minus plain words ("_", "null", "0"), which are valid identifiers.
ATTACKS: tuple[str, ...] = tuple(s for s in CORPUS if not re.fullmatch(r"\w+", s))


def _q(text: str) -> str:
    """A SQL string literal for the IndexSpec ``where`` grammar."""
    return "'" + text.replace("'", "''") + "'"


async def canary(storage: Any) -> dict[str, Any]:
    """The seeded rows, read by id (listings grow as the corpus is stored)."""
    mem = storage.memory
    trace = await storage.observability.get_trace(TRACE)
    return {
        "threads": [to_wire(await mem.get_thread(t)) for t in (T1, T2)],
        "owner": [to_wire(t) for t in (await mem.list_threads(resource_id=OWNER)).items],
        "owner2": [to_wire(t) for t in (await mem.list_threads(resource_id=OWNER2)).items],
        "messages": [to_wire(m) for m in (await mem.list_messages([T1, T2], per_page=None))],
        "resource": to_wire(await mem.get_resource(RESOURCE)),
        "run": to_wire(await storage.workflows.get_run(RUN, workflow_name=FLOW)),
        "score": to_wire(await storage.scores.get_score("bi-score")),
        "trace": [to_wire(s) for s in trace.spans] if trace else None,
        "agent": to_wire(await storage.agents.get_agent(AGENT)),
        "versions": [to_wire(v) for v in await storage.agents.list_agent_versions(AGENT)],
    }


class TestInjection:
    async def test_threads_and_thread_filters(self, storage: Any) -> None:
        await seed(storage)
        before = await canary(storage)
        mem = storage.memory
        for i, s in enumerate(CORPUS):
            thread = Thread(
                id=s, resource_id=s, title=s, metadata={s: s, "i": i}, agent_id=s, created_at=ts(i)
            )
            await mem.save_thread(thread)
            got = await mem.get_thread(s, resource_id=s)
            assert got is not None, s
            assert (got.id, got.resource_id, got.title, got.agent_id) == (s, s, s, s)
            assert dict(got.metadata) == {s: s, "i": i}
        for i, s in enumerate(CORPUS):
            by_owner = await mem.list_threads(resource_id=s)
            assert [t.id for t in by_owner.items] == [s], f"owner filter {s!r}"
            by_meta = await mem.list_threads(metadata={s: s})
            assert [t.id for t in by_meta.items] == [s], f"metadata filter {s!r}"
            by_agent = await mem.list_threads(agent_id=s, metadata={"i": i})
            assert [t.id for t in by_agent.items] == [s], f"agent filter {s!r}"
            q = mem.threads().where(resource_id=s, agent_id=s, metadata={s: s})
            assert [t.id for t in await q.all()] == [s]
            assert await q.count() == 1
            assert (await mem.get_thread(s, resource_id=s + "x")) is None
            updated = await mem.update_thread(s, title=s + s, metadata={s: i}, merge_metadata=True)
            assert updated.title == s + s and updated.metadata[s] == i
        total = await mem.list_threads(per_page=None)
        assert len(total.items) == 2 + len(CORPUS)
        assert await canary(storage) == before

    async def test_messages_and_message_filters(self, storage: Any) -> None:
        await seed(storage)
        before = await canary(storage)
        mem = storage.memory
        await mem.save_thread(Thread(id="inj-thread", resource_id="inj-owner"))
        batch = [
            Message(
                id=s,
                thread_id="inj-thread",
                role="user",
                type=s,
                content={"text": s, s: [s]},
                metadata={s: s},
                created_at=ts(i),
            )
            for i, s in enumerate(CORPUS)
        ]
        await mem.save_messages(batch)
        got = await mem.get_messages([m.id for m in batch])
        assert [(m.id, m.type, m.content, dict(m.metadata)) for m in got] == [
            (m.id, m.type, m.content, dict(m.metadata)) for m in batch
        ]
        for s in CORPUS:
            by_type = await mem.list_messages("inj-thread", types=[s])
            assert [m.id for m in by_type.items] == [s], f"types filter {s!r}"
            by_role = await mem.list_messages("inj-thread", roles=[s])
            assert by_role.items == (), f"roles filter {s!r} matched"
            owned = await mem.list_messages("inj-thread", resource_id=s, per_page=None)
            assert owned.items == (), f"resource filter {s!r} matched"
            window = await mem.list_messages("inj-thread", include=[s], per_page=0)
            assert [m.id for m in window.items] == [s]
        everything = await mem.list_messages("inj-thread", per_page=None)
        assert [m.id for m in everything.items] == list(CORPUS)
        assert await mem.delete_messages(list(CORPUS[:5])) == 5
        assert (await mem.list_messages("inj-thread", per_page=1)).total == len(CORPUS) - 5
        assert await canary(storage) == before

    async def test_resources(self, storage: Any) -> None:
        await seed(storage)
        before = await canary(storage)
        for s in CORPUS:
            await storage.memory.update_resource(s, working_memory=s, metadata={s: s})
            await storage.memory.update_resource(s, metadata={"again": s})
            got = await storage.memory.get_resource(s)
            assert got.working_memory == s and dict(got.metadata) == {s: s, "again": s}
            stats = await storage.memory.stats(s)
            assert (stats.thread_count, stats.message_count) == (0, 0)
        assert await canary(storage) == before

    async def test_workflows(self, storage: Any) -> None:
        await seed(storage)
        before = await canary(storage)
        wf = storage.workflows
        for s in CORPUS:
            await wf.persist_snapshot(s, s, {"status": s, s: s}, resource_id=s)
        for s in CORPUS:
            assert [r.run_id for r in (await wf.list_runs(workflow_name=s)).items] == [s]
            assert [r.run_id for r in (await wf.list_runs(resource_id=s)).items] == [s]
            assert [r.run_id for r in (await wf.list_runs(status=s)).items] == [s]
            run = await wf.get_run(s, workflow_name=s)
            assert run is not None and run.status == s and run.snapshot[s] == s
            await wf.update_step_result(s, s, s, {s: s})
            won = await wf.update_state(s, s, status=s + "!", result=s, expected_status=s)
            assert won is not None and won.status == s + "!"
            lost = await wf.update_state(s, s, status="x", expected_status=s)
            assert lost is None
            snap = await wf.load_snapshot(s, s)
            assert snap["context"][s] == {s: s} and snap["result"] == s
        assert len((await wf.list_runs()).items) == 1 + len(CORPUS)
        assert await canary(storage) == before

    async def test_scores(self, storage: Any) -> None:
        await seed(storage)
        before = await canary(storage)
        sc = storage.scores
        for i, s in enumerate(CORPUS):
            await sc.save_score(
                Score(
                    id=s,
                    scorer_id=s,
                    run_id=s,
                    score=float(i),
                    reason=s,
                    entity_type=s,
                    entity_id=s,
                    trace_id=s,
                    span_id=s,
                    metadata={s: s},
                    created_at=ts(i),
                )
            )
        for i, s in enumerate(CORPUS):
            for flt in ("scorer_id", "run_id", "entity_id", "trace_id"):
                page = await sc.list_scores(**{flt: s})
                assert [x.id for x in page.items] == [s], f"{flt}={s!r}"
            both = await sc.list_scores(entity_type=s, entity_id=s, trace_id=s, span_id=s)
            assert [x.id for x in both.items] == [s]
            got = await sc.get_score(s)
            assert got.reason == s and got.score == float(i) and dict(got.metadata) == {s: s}
        assert await canary(storage) == before

    async def test_spans(self, storage: Any) -> None:
        await seed(storage)
        before = await canary(storage)
        ob = storage.observability
        await ob.create_spans(
            [
                Span(
                    trace_id=s,
                    span_id=s,
                    name=s,
                    span_type=s,
                    agent_id=s,
                    entity_type=s,
                    entity_id=s,
                    resource_id=s,
                    attributes={s: s},
                    input=s,
                    started_at=ts(i),
                )
                for i, s in enumerate(CORPUS)
            ]
        )
        for s in CORPUS:
            for flt in ("name", "span_type", "agent_id", "resource_id", "entity_id"):
                page = await ob.list_traces(**{flt: s})
                assert [x.trace_id for x in page.items] == [s], f"{flt}={s!r}"
            span = await ob.get_span(s, s)
            assert span is not None and span.name == s and dict(span.attributes) == {s: s}
        assert await ob.delete_traces(list(CORPUS[:3])) == 3
        assert len((await ob.list_traces(per_page=None)).items) == 1 + len(CORPUS) - 3
        assert await canary(storage) == before

    async def test_agents(self, storage: Any) -> None:
        await seed(storage)
        before = await canary(storage)
        ag = storage.agents
        for s in CORPUS:
            await ag.create_agent(AgentConfig(id=s, name=s, instructions=s, metadata={s: s}))
        for s in CORPUS:
            listed = await ag.list_agents(metadata={s: s})
            assert [a.id for a in listed.items] == [s], f"metadata filter {s!r}"
            updated = await ag.update_agent(s, instructions=s + s, change_message=s)
            assert updated.version == 2 and updated.instructions == s + s
            versions = await ag.list_agent_versions(s)
            assert [v.change_message for v in versions][1] == s
        assert len((await ag.list_agents(per_page=None)).items) == 1 + len(CORPUS)
        assert await canary(storage) == before

    async def test_order_and_direction_never_reach_a_query(self, storage: Any) -> None:
        await seed(storage)
        before = await canary(storage)
        mem = storage.memory
        for s in (*CORPUS, "created_at DESC", "id", "title; --", "CREATED_AT", "asc "):
            with pytest.raises(ValidationError):
                await mem.list_threads(order_by=s)
            with pytest.raises(ValidationError):
                await mem.list_threads(direction=s)
            with pytest.raises(ValidationError):
                mem.threads().order_by(s)
            with pytest.raises(ValidationError):
                mem.threads().order_by("created_at", s)
            with pytest.raises(ValidationError):
                await mem.list_messages(T1, order=s)
        assert await canary(storage) == before

    async def test_identifiers_refused_at_open_store(self, storage: Any) -> None:
        await seed(storage)
        before = await canary(storage)
        schema_aware = "schema" in type(storage.backend).accepted_options
        for s in ATTACKS:
            with pytest.raises(InvalidIdentifierError):
                reopen(storage, table_prefix=s)
            with pytest.raises(InvalidIdentifierError if schema_aware else ConfigurationError):
                reopen(storage, schema=s)
        assert await canary(storage) == before

    async def test_index_specs_are_parsed_never_pasted(self, storage: Any) -> None:
        await seed(storage)
        before = await canary(storage)
        specs = []
        for i, s in enumerate(CORPUS):
            variants: list[dict[str, Any]] = [
                {"name": s, "columns": ("id",)},
                {"name": "ix", "columns": (s,)},
                {"name": "ix", "columns": ("id",), "where": s},
                {"name": "ix", "columns": ("id",), "opclass": s},
                {"name": "ix", "columns": ("id",), "method": s},
            ]
            for bad in variants if s in ATTACKS else []:
                try:
                    IndexSpec(table="threads", **bad)
                except InvalidIndexSpecError:
                    continue
                raise AssertionError(f"IndexSpec accepted {bad}")  # pragma: no cover
            try:  # a literal is data: valid, rendered re-quoted
                specs.append(
                    IndexSpec(
                        name=f"inj_ix_{i}",
                        table="threads",
                        columns=("resource_id",),
                        where=f"title = {_q(s)}",
                    )
                )
            except InvalidIndexSpecError:
                pass
        assert specs, "no literal of the corpus is accepted in a where clause"
        try:
            indexes = storage.indexes
        except NotSupportedError:
            indexes = None
        if indexes is not None:
            made = []
            for spec in specs:
                try:
                    await indexes.create(spec)
                except NotSupportedError:
                    break
                made.append(spec.name)
            names = [ix.name for ix in await indexes.list("threads")]
            for name in made:
                assert any(n.endswith(name) for n in names), (name, names)
        await storage.memory.save_thread(Thread(id="inj-after", resource_id=OWNER, created_at=T0))
        after = await canary(storage)
        assert after["threads"] == before["threads"]
        assert after["messages"] == before["messages"]
        assert sorted(t["id"] for t in after["owner"]) == sorted(
            ["inj-after", *(t["id"] for t in before["owner"])]
        )
