"""Bad input, table-driven: every malformed argument fails with its typed error, and the
store is exactly as it was afterwards (a full snapshot is compared before and after).

The cases cover URLs, options, identifiers, IndexSpec parts, naive datetimes, non-JSON
values, NUL and lone surrogates, sizes, pagination values, ids, order_by/direction,
writes to missing threads/runs/agents and duplicate ids in a batch. Each case names the
most precise error class the contract promises; the check also requires it to be an
:class:`~agent_storage.AgentStorageError` (never a bare ValueError or a driver error).

:func:`snapshot` is reused by the isolation and injection suites.
"""

from __future__ import annotations

import datetime as _dt
import inspect
from collections.abc import Callable
from typing import Any

import attrs
import pytest

from agent_storage import (
    AgentConfig,
    AgentNotFoundError,
    AgentStorageError,
    ConfigurationError,
    Include,
    IndexSpec,
    InvalidIdentifierError,
    InvalidIndexSpecError,
    InvalidURLError,
    Message,
    MessageUpdate,
    RecordTooLargeError,
    Resource,
    Retention,
    RunNotFoundError,
    Score,
    Span,
    SpanUpdate,
    Thread,
    ThreadNotFoundError,
    UnknownBackendError,
    ValidationError,
    open_store,
)
from agent_storage.serde import to_wire
from agent_storage.testing._helpers import T0, reopen, ts

pytestmark = pytest.mark.asyncio

NAIVE = _dt.datetime(2024, 1, 1, 12, 0, 0)  # no tzinfo
OWNER, OWNER2 = "bi-owner", "bi-owner2"
T1, T2 = "bi-t1", "bi-t2"
GHOST_THREAD = "bi-ghost-thread"
FLOW, RUN = "bi-flow", "bi-run"
AGENT = "bi-agent"
TRACE = "bi-trace"
RESOURCE = "bi-res"
#: Ids the cases try to write; the snapshot reads them back so a stray write shows.
PROBE_MESSAGES = ("bi-new-1", "bi-new-2", "bi-dup", "bi-m-t1-0", "bi-m-t1-1", "bi-m-t1-2")
PROBE_THREADS = (T1, T2, GHOST_THREAD, "bi-clone")
PROBE_RESOURCES = (RESOURCE, "bi-res-new", "")


async def seed(storage: Any) -> None:
    """A small store touching every domain."""
    mem = storage.memory
    await mem.save_thread(Thread(id=T1, resource_id=OWNER, title="one", metadata={"k": "v"}))
    await mem.save_thread(Thread(id=T2, resource_id=OWNER2, title="two"))
    await mem.save_messages(
        [
            Message(
                id=f"bi-m-t1-{n}", thread_id=T1, role="user", content={"n": n}, created_at=ts(n)
            )
            for n in range(3)
        ]
        + [Message(id="bi-m-t2-0", thread_id=T2, role="assistant", content="hi", created_at=T0)]
    )
    await mem.save_resource(Resource(id=RESOURCE, working_memory="# wm", metadata={"a": 1}))
    await storage.workflows.persist_snapshot(
        FLOW, RUN, {"status": "running", "context": {}}, resource_id=OWNER
    )
    await storage.scores.save_score(
        Score(id="bi-score", scorer_id="bi-scorer", run_id=RUN, score=0.5, created_at=T0)
    )
    await storage.observability.create_spans(
        [
            Span(trace_id=TRACE, span_id="root", name="run", span_type="agent", started_at=T0),
            Span(
                trace_id=TRACE,
                span_id="child",
                parent_span_id="root",
                name="step",
                span_type="tool",
                started_at=ts(1),
            ),
        ]
    )
    await storage.agents.create_agent(AgentConfig(id=AGENT, name="bot", instructions="be nice"))


async def snapshot(
    storage: Any,
    *,
    owners: tuple[str, ...] = (OWNER, OWNER2),
    threads: tuple[str, ...] = PROBE_THREADS,
    messages: tuple[str, ...] = PROBE_MESSAGES,
    resources: tuple[str, ...] = PROBE_RESOURCES,
) -> dict[str, Any]:
    """Everything reachable through the public API, as plain data (compared with ==)."""
    mem = storage.memory
    snap: dict[str, Any] = {}
    snap["threads"] = [to_wire(t) for t in (await mem.list_threads(per_page=None)).items]
    for owner in owners:
        page = await mem.list_threads(resource_id=owner, per_page=None)
        snap[f"threads:{owner}"] = [to_wire(t) for t in page.items]
    for tid in threads:
        got = await mem.get_thread(tid)
        snap[f"thread:{tid}"] = None if got is None else to_wire(got)
    listed = [t["id"] for t in snap["threads"]] + list(threads)
    page = await mem.list_messages(list(dict.fromkeys(listed)), per_page=None)
    snap["messages"] = [to_wire(m) for m in page.items]
    snap["probe_messages"] = [to_wire(m) for m in await mem.get_messages(list(messages))]
    for rid in resources:
        if rid:
            got = await mem.get_resource(rid)
            snap[f"resource:{rid}"] = None if got is None else to_wire(got)
    snap["runs"] = [to_wire(r) for r in (await storage.workflows.list_runs()).items]
    snap["scores"] = [to_wire(s) for s in (await storage.scores.list_scores(per_page=None)).items]
    roots = (await storage.observability.list_traces(per_page=None)).items
    snap["traces"] = []
    for root in roots:
        trace = await storage.observability.get_trace(root.trace_id)
        snap["traces"].append([to_wire(s) for s in trace.spans] if trace else None)
    agents = (await storage.agents.list_agents(per_page=None)).items
    snap["agents"] = [to_wire(a) for a in agents]
    for agent in agents:
        versions = await storage.agents.list_agent_versions(agent.id)
        snap[f"versions:{agent.id}"] = [to_wire(v) for v in versions]
    snap["stats"] = to_wire(await mem.stats())
    return snap


@attrs.frozen
class Case:
    name: str
    call: Callable[[Any], Any]
    error: type[AgentStorageError]


def _msg(**fields: Any) -> Message:
    fields.setdefault("id", "bi-new-1")
    fields.setdefault("thread_id", T1)
    fields.setdefault("role", "user")
    fields.setdefault("content", "x")
    return Message(**fields)


def _span(**fields: Any) -> Span:
    fields.setdefault("trace_id", "bi-new-trace")
    fields.setdefault("span_id", "s")
    fields.setdefault("name", "n")
    fields.setdefault("span_type", "t")
    fields.setdefault("started_at", T0)
    return Span(**fields)


def _any(value: Any) -> Any:
    """A deliberately ill-typed argument (keeps the type checker quiet)."""
    return value


class _NotJson:
    pass


#: Domain-level malformed inputs (every one must leave the store unchanged).
DOMAIN_CASES: tuple[Case, ...] = (
    # ids
    Case("empty thread id", lambda s: s.memory.get_thread(""), ValidationError),
    Case("overlong thread id", lambda s: s.memory.get_thread("t" * 256), ValidationError),
    Case("NUL in thread id", lambda s: s.memory.get_thread("a\x00b"), ValidationError),
    Case("lone surrogate in id", lambda s: s.memory.get_thread("a\ud800"), ValidationError),
    Case("int thread id", lambda s: s.memory.get_thread(123), ValidationError),
    Case("empty resource_id filter", lambda s: s.memory.stats(""), ValidationError),
    Case("non-str resource id", lambda s: s.memory.get_resource(None), ValidationError),
    # records refused before any write
    Case("save_thread(dict)", lambda s: s.memory.save_thread({"id": "x"}), ValidationError),
    Case(
        "thread with naive created_at",
        lambda s: s.memory.save_thread(Thread(id="bi-x", resource_id=OWNER, created_at=NAIVE)),
        ValidationError,
    ),
    Case(
        "thread title with NUL",
        lambda s: s.memory.save_thread(Thread(id="bi-x", resource_id=OWNER, title="a\x00")),
        ValidationError,
    ),
    Case(
        "thread metadata not a dict",
        lambda s: s.memory.save_thread(Thread(id="bi-x", resource_id=OWNER, metadata=_any([1]))),
        ValidationError,
    ),
    Case(
        "message content is a set",
        lambda s: s.memory.save_messages([_msg(content={1})]),
        ValidationError,
    ),
    Case(
        "message content NaN",
        lambda s: s.memory.save_messages([_msg(content=float("nan"))]),
        ValidationError,
    ),
    Case(
        "message content inf",
        lambda s: s.memory.save_messages([_msg(content=[float("inf")])]),
        ValidationError,
    ),
    Case(
        "message int beyond 64 bits",
        lambda s: s.memory.save_messages([_msg(content=2**63)]),
        ValidationError,
    ),
    Case(
        "message content object",
        lambda s: s.memory.save_messages([_msg(content=_NotJson())]),
        ValidationError,
    ),
    Case(
        "message non-str dict key",
        lambda s: s.memory.save_messages([_msg(content={1: "a"})]),
        ValidationError,
    ),
    Case(
        "message NUL in content",
        lambda s: s.memory.save_messages([_msg(content={"t": "a\x00b"})]),
        ValidationError,
    ),
    Case(
        "message lone surrogate in metadata key",
        lambda s: s.memory.save_messages([_msg(metadata={"\udc00": 1})]),
        ValidationError,
    ),
    Case(
        "message JSON nested too deep",
        lambda s: s.memory.save_messages([_msg(content=_nest(70))]),
        ValidationError,
    ),
    Case(
        "message unknown role",
        lambda s: s.memory.save_messages([_msg(role="robot")]),
        ValidationError,
    ),
    Case(
        "message naive created_at",
        lambda s: s.memory.save_messages([_msg(created_at=NAIVE)]),
        ValidationError,
    ),
    Case(
        "message created_at as str",
        lambda s: s.memory.save_messages([_msg(created_at="2024-01-01T00:00:00Z")]),
        ValidationError,
    ),
    Case(
        "save_messages(non-Message)",
        lambda s: s.memory.save_messages([{"id": "x"}]),
        ValidationError,
    ),
    Case(
        "save_messages duplicate ids in a batch",
        lambda s: s.memory.save_messages([_msg(id="bi-dup"), _msg(id="bi-dup", content="y")]),
        ValidationError,
    ),
    Case(
        "save_messages to a missing thread",
        lambda s: s.memory.save_messages([_msg(thread_id=GHOST_THREAD)]),
        ThreadNotFoundError,
    ),
    Case(
        "save_messages batch with one missing thread (all or nothing)",
        lambda s: s.memory.save_messages(
            [_msg(id="bi-new-1"), _msg(id="bi-new-2", thread_id=GHOST_THREAD)]
        ),
        ThreadNotFoundError,
    ),
    Case(
        "re-saving existing messages into a missing thread",
        lambda s: s.memory.save_messages([_msg(id="bi-m-t1-0", thread_id=GHOST_THREAD)]),
        ThreadNotFoundError,
    ),
    # listing: order/direction/pagination
    Case(
        "list_threads unknown order_by",
        lambda s: s.memory.list_threads(order_by="id; DROP TABLE x"),
        ValidationError,
    ),
    Case(
        "list_threads order_by=None",
        lambda s: s.memory.list_threads(order_by=None),
        ValidationError,
    ),
    Case(
        "list_threads bad direction",
        lambda s: s.memory.list_threads(direction="sideways"),
        ValidationError,
    ),
    Case("list_threads negative page", lambda s: s.memory.list_threads(page=-1), ValidationError),
    Case("list_threads per_page=0", lambda s: s.memory.list_threads(per_page=0), ValidationError),
    Case("list_threads per_page=-5", lambda s: s.memory.list_threads(per_page=-5), ValidationError),
    Case(
        "list_threads per_page=True",
        lambda s: s.memory.list_threads(per_page=True),
        ValidationError,
    ),
    Case("list_threads page='1'", lambda s: s.memory.list_threads(page="1"), ValidationError),
    Case("list_threads page=1.0", lambda s: s.memory.list_threads(page=1.0), ValidationError),
    Case(
        "list_threads page>0 with per_page=None",
        lambda s: s.memory.list_threads(page=1, per_page=None),
        ValidationError,
    ),
    Case(
        "list_threads empty metadata filter",
        lambda s: s.memory.list_threads(metadata={}),
        ValidationError,
    ),
    Case(
        "list_threads nested metadata filter",
        lambda s: s.memory.list_threads(metadata={"k": {"a": 1}}),
        ValidationError,
    ),
    Case(
        "list_threads metadata filter empty key",
        lambda s: s.memory.list_threads(metadata={"": 1}),
        ValidationError,
    ),
    Case(
        "threads().order_by unknown",
        lambda s: s.memory.threads().order_by("secret"),
        ValidationError,
    ),
    Case("threads().limit(-1)", lambda s: s.memory.threads().limit(-1), ValidationError),
    Case("threads().offset(True)", lambda s: s.memory.threads().offset(True), ValidationError),
    Case("threads().page(0, 0)", lambda s: s.memory.threads().page(0, 0), ValidationError),
    Case("list_messages no thread ids", lambda s: s.memory.list_messages([]), ValidationError),
    Case("list_messages thread_id=None", lambda s: s.memory.list_messages(None), ValidationError),
    Case(
        "list_messages bad order", lambda s: s.memory.list_messages(T1, order="up"), ValidationError
    ),
    Case(
        "list_messages per_page=-1",
        lambda s: s.memory.list_messages(T1, per_page=-1),
        ValidationError,
    ),
    Case("list_messages last=0", lambda s: s.memory.list_messages(T1, last=0), ValidationError),
    Case(
        "list_messages last=True", lambda s: s.memory.list_messages(T1, last=True), ValidationError
    ),
    Case(
        "list_messages naive start",
        lambda s: s.memory.list_messages(T1, start=NAIVE),
        ValidationError,
    ),
    Case(
        "list_messages end as str",
        lambda s: s.memory.list_messages(T1, end="2024-01-01"),
        ValidationError,
    ),
    Case(
        "list_messages include of wrong type",
        lambda s: s.memory.list_messages(T1, include=[5]),
        ValidationError,
    ),
    Case(
        "Include before=-1",
        lambda s: s.memory.list_messages(T1, include=[Include(id="bi-m-t1-0", before=-1)]),
        ValidationError,
    ),
    Case("get_messages(str)", lambda s: s.memory.get_messages("bi-m-t1-0"), ValidationError),
    # updates and deletes
    Case(
        "update_thread missing",
        lambda s: s.memory.update_thread(GHOST_THREAD, title="x"),
        ThreadNotFoundError,
    ),
    Case("update_thread title int", lambda s: s.memory.update_thread(T1, title=5), ValidationError),
    Case(
        "update_thread metadata list",
        lambda s: s.memory.update_thread(T1, metadata=[1]),
        ValidationError,
    ),
    Case(
        "MessageUpdate bad role",
        lambda s: s.memory.update_messages([MessageUpdate(id="bi-m-t1-0", role="x")]),
        ValidationError,
    ),
    Case(
        "update_messages duplicate ids",
        lambda s: s.memory.update_messages(
            [MessageUpdate(id="bi-m-t1-0", content="a"), MessageUpdate(id="bi-m-t1-0")]
        ),
        ValidationError,
    ),
    Case(
        "update_messages move to a missing thread (all or nothing)",
        lambda s: s.memory.update_messages(
            [
                MessageUpdate(id="bi-m-t1-1", content="changed"),
                MessageUpdate(id="bi-m-t1-0", thread_id=GHOST_THREAD),
            ]
        ),
        ThreadNotFoundError,
    ),
    Case("delete_messages(str)", lambda s: s.memory.delete_messages("bi-m-t1-0"), ValidationError),
    Case("delete_messages NUL id", lambda s: s.memory.delete_messages(["a\x00"]), ValidationError),
    Case("delete_thread empty id", lambda s: s.memory.delete_thread(""), ValidationError),
    Case(
        "clone missing thread", lambda s: s.memory.clone_thread(GHOST_THREAD), ThreadNotFoundError
    ),
    Case(
        "clone onto an existing thread",
        lambda s: s.memory.clone_thread(T1, new_thread_id=T2),
        ValidationError,
    ),
    Case(
        "clone message_limit=-1",
        lambda s: s.memory.clone_thread(T1, message_limit=-1),
        ValidationError,
    ),
    Case("clone naive start", lambda s: s.memory.clone_thread(T1, start=NAIVE), ValidationError),
    Case(
        "update_resource metadata str",
        lambda s: s.memory.update_resource("bi-res-new", metadata="x"),
        ValidationError,
    ),
    Case(
        "update_resource working_memory int",
        lambda s: s.memory.update_resource("bi-res-new", working_memory=5),
        ValidationError,
    ),
    Case(
        "save_resource naive updated_at",
        lambda s: s.memory.save_resource(Resource(id="bi-res-new", updated_at=NAIVE)),
        ValidationError,
    ),
    # workflows
    Case(
        "persist_snapshot list",
        lambda s: s.workflows.persist_snapshot(FLOW, "r2", [1]),
        ValidationError,
    ),
    Case(
        "persist_snapshot NaN",
        lambda s: s.workflows.persist_snapshot(FLOW, "r2", {"x": float("nan")}),
        ValidationError,
    ),
    Case(
        "persist_snapshot empty run id",
        lambda s: s.workflows.persist_snapshot(FLOW, "", {}),
        ValidationError,
    ),
    Case(
        "update_step_result missing run",
        lambda s: s.workflows.update_step_result(FLOW, "nope", "step", 1),
        RunNotFoundError,
    ),
    Case(
        "update_step_result non-JSON",
        lambda s: s.workflows.update_step_result(FLOW, RUN, "step", {1, 2}),
        ValidationError,
    ),
    Case(
        "update_state empty status",
        lambda s: s.workflows.update_state(FLOW, RUN, status=""),
        ValidationError,
    ),
    Case(
        "update_state missing run",
        lambda s: s.workflows.update_state(FLOW, "nope", status="done"),
        RunNotFoundError,
    ),
    Case("list_runs per_page=0", lambda s: s.workflows.list_runs(per_page=0), ValidationError),
    Case("list_runs naive end", lambda s: s.workflows.list_runs(end=NAIVE), ValidationError),
    # scores
    Case(
        "score as str",
        lambda s: s.scores.save_score(Score(id="bi-s2", scorer_id="x", run_id="r", score="high")),
        ValidationError,
    ),
    Case(
        "score NaN",
        lambda s: s.scores.save_score(
            Score(id="bi-s2", scorer_id="x", run_id="r", score=float("nan"))
        ),
        ValidationError,
    ),
    Case(
        "score unknown source",
        lambda s: s.scores.save_score(
            Score(id="bi-s2", scorer_id="x", run_id="r", score=1, source="prod")
        ),
        ValidationError,
    ),
    Case(
        "list_scores unknown source", lambda s: s.scores.list_scores(source="prod"), ValidationError
    ),
    Case("list_scores page=-1", lambda s: s.scores.list_scores(page=-1), ValidationError),
    # observability
    Case(
        "span naive started_at",
        lambda s: s.observability.create_spans([_span(started_at=NAIVE)]),
        ValidationError,
    ),
    Case(
        "create_spans same span twice",
        lambda s: s.observability.create_spans([_span(), _span(name="other")]),
        ValidationError,
    ),
    Case(
        "SpanUpdate naive ended_at",
        lambda s: s.observability.update_spans(
            [SpanUpdate(trace_id=TRACE, span_id="root", ended_at=NAIVE)]
        ),
        ValidationError,
    ),
    Case(
        "SpanUpdate non-JSON output",
        lambda s: s.observability.update_spans(
            [SpanUpdate(trace_id=TRACE, span_id="root", output=_NotJson())]
        ),
        ValidationError,
    ),
    Case(
        "list_traces per_page=0", lambda s: s.observability.list_traces(per_page=0), ValidationError
    ),
    Case("delete_traces(str)", lambda s: s.observability.delete_traces(TRACE), ValidationError),
    # agents
    Case(
        "update_agent unknown field",
        lambda s: s.agents.update_agent(AGENT, password="x"),
        ValidationError,
    ),
    Case(
        "update_agent missing",
        lambda s: s.agents.update_agent("bi-nobody", name="x"),
        AgentNotFoundError,
    ),
    Case(
        "update_agent bad status",
        lambda s: s.agents.update_agent(AGENT, status="live"),
        ValidationError,
    ),
    Case(
        "create_agent existing id",
        lambda s: s.agents.create_agent(AgentConfig(id=AGENT, name="again")),
        ValidationError,
    ),
    Case(
        "activate version 0", lambda s: s.agents.activate_agent_version(AGENT, 0), ValidationError
    ),
    Case(
        "activate missing version",
        lambda s: s.agents.activate_agent_version(AGENT, 99),
        AgentNotFoundError,
    ),
    Case(
        "list_agent_versions missing",
        lambda s: s.agents.list_agent_versions("bi-nobody"),
        AgentNotFoundError,
    ),
    Case(
        "list_agents unknown status", lambda s: s.agents.list_agents(status="live"), ValidationError
    ),
    Case("get_domain unknown", lambda s: s.get_domain("billing"), ValidationError),
)


#: Whitespace-only ids, refused like the empty id (several kinds of blank).
BLANKS = ("   ", "\t", "\n", "\u00a0", "\u3000 ")
_B = BLANKS[0]


def _blank_id_calls() -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    """Every id of every record and every id argument, given as whitespace."""
    b = _B
    return (
        ("Thread.id", lambda s: s.memory.save_thread(Thread(id=b, resource_id=OWNER))),
        ("Thread.resource_id", lambda s: s.memory.save_thread(Thread(id="bi-x", resource_id=b))),
        ("Thread.agent_id", lambda s: s.memory.save_thread(
            Thread(id="bi-x", resource_id=OWNER, agent_id=b))),
        ("Message.id", lambda s: s.memory.save_messages([_msg(id=b)])),
        ("Message.thread_id", lambda s: s.memory.save_messages([_msg(thread_id=b)])),
        ("Message.resource_id", lambda s: s.memory.save_messages([_msg(resource_id=b)])),
        ("Message.type", lambda s: s.memory.save_messages([_msg(type=b)])),
        ("MessageUpdate.id", lambda s: s.memory.update_messages([MessageUpdate(id=b)])),
        ("MessageUpdate.thread_id", lambda s: s.memory.update_messages(
            [MessageUpdate(id="bi-m-t1-0", thread_id=b)])),
        ("MessageUpdate.type", lambda s: s.memory.update_messages(
            [MessageUpdate(id="bi-m-t1-0", type=b)])),
        ("Resource.id", lambda s: s.memory.save_resource(Resource(id=b))),
        ("Include.id", lambda s: s.memory.list_messages(T1, include=[Include(id=b)])),
        ("include plain id", lambda s: s.memory.list_messages(T1, include=[b])),
        ("get_thread", lambda s: s.memory.get_thread(b)),
        ("get_thread resource_id", lambda s: s.memory.get_thread(T1, resource_id=b)),
        ("update_thread", lambda s: s.memory.update_thread(b, title="x")),
        ("update_thread resource_id", lambda s: s.memory.update_thread(
            T1, title="x", resource_id=b)),
        ("delete_thread", lambda s: s.memory.delete_thread(b)),
        ("delete_thread resource_id", lambda s: s.memory.delete_thread(T1, resource_id=b)),
        ("list_threads resource_id", lambda s: s.memory.list_threads(resource_id=b)),
        ("list_threads agent_id", lambda s: s.memory.list_threads(agent_id=b)),
        ("threads().where", lambda s: s.memory.threads().where(resource_id=b)),
        ("list_threads metadata key", lambda s: s.memory.list_threads(metadata={b: 1})),
        ("list_messages", lambda s: s.memory.list_messages(b)),
        ("list_messages last", lambda s: s.memory.list_messages(b, last=3)),
        ("list_messages several", lambda s: s.memory.list_messages([T1, b])),
        ("list_messages resource_id", lambda s: s.memory.list_messages(T1, resource_id=b)),
        ("get_messages", lambda s: s.memory.get_messages([b])),
        ("update_messages resource_id", lambda s: s.memory.update_messages(
            [MessageUpdate(id="bi-m-t1-0", content="x")], resource_id=b)),
        ("delete_messages", lambda s: s.memory.delete_messages([b])),
        ("delete_messages resource_id", lambda s: s.memory.delete_messages(
            ["bi-m-t1-0"], resource_id=b)),
        ("clone_thread source", lambda s: s.memory.clone_thread(b)),
        ("clone_thread new_thread_id", lambda s: s.memory.clone_thread(T1, new_thread_id=b)),
        ("clone_thread resource_id", lambda s: s.memory.clone_thread(T1, resource_id=b)),
        ("clone_thread source_resource_id", lambda s: s.memory.clone_thread(
            T1, source_resource_id=b)),
        ("clone_thread message_ids", lambda s: s.memory.clone_thread(T1, message_ids=[b])),
        ("get_resource", lambda s: s.memory.get_resource(b)),
        ("update_resource", lambda s: s.memory.update_resource(b, working_memory="x")),
        ("stats", lambda s: s.memory.stats(b)),
        ("persist_snapshot workflow_name", lambda s: s.workflows.persist_snapshot(
            b, "bi-run-x", {"status": "running"})),
        ("persist_snapshot run_id", lambda s: s.workflows.persist_snapshot(
            FLOW, b, {"status": "running"})),
        ("persist_snapshot resource_id", lambda s: s.workflows.persist_snapshot(
            FLOW, "bi-run-x", {"status": "running"}, resource_id=b)),
        ("get_run", lambda s: s.workflows.get_run(b)),
        ("list_runs workflow_name", lambda s: s.workflows.list_runs(workflow_name=b)),
        ("update_step_result step_id", lambda s: s.workflows.update_step_result(
            FLOW, RUN, b, {})),
        ("delete_run", lambda s: s.workflows.delete_run(FLOW, b)),
        ("Score.id", lambda s: s.scores.save_score(
            Score(id=b, scorer_id="sc", run_id=RUN, score=1.0))),
        ("Score.scorer_id", lambda s: s.scores.save_score(
            Score(id="bi-s", scorer_id=b, run_id=RUN, score=1.0))),
        ("Score.run_id", lambda s: s.scores.save_score(
            Score(id="bi-s", scorer_id="sc", run_id=b, score=1.0))),
        ("get_score", lambda s: s.scores.get_score(b)),
        ("list_scores scorer_id", lambda s: s.scores.list_scores(scorer_id=b)),
        ("delete_score", lambda s: s.scores.delete_score(b)),
        ("Span.trace_id", lambda s: s.observability.create_spans([_span(trace_id=b)])),
        ("Span.span_id", lambda s: s.observability.create_spans([_span(span_id=b)])),
        ("Span.parent_span_id", lambda s: s.observability.create_spans(
            [_span(parent_span_id=b)])),
        ("SpanUpdate.span_id", lambda s: s.observability.update_spans(
            [SpanUpdate(trace_id=TRACE, span_id=b)])),
        ("get_trace", lambda s: s.observability.get_trace(b)),
        ("get_span", lambda s: s.observability.get_span(TRACE, b)),
        ("delete_traces", lambda s: s.observability.delete_traces([b])),
        ("AgentConfig.id", lambda s: s.agents.create_agent(AgentConfig(id=b, name="n"))),
        ("get_agent", lambda s: s.agents.get_agent(b)),
        ("list_agent_versions", lambda s: s.agents.list_agent_versions(b)),
        ("delete_agent", lambda s: s.agents.delete_agent(b)),
    )


def _get_thread_call(thread_id: str) -> Callable[[Any], Any]:
    return lambda s: s.memory.get_thread(thread_id)


#: Each id given as whitespace only: ValidationError, like the empty id.
BLANK_ID_CASES: tuple[Case, ...] = tuple(
    Case(f"blank id: {name}", call, ValidationError) for name, call in _blank_id_calls()
) + tuple(
    Case(f"blank thread id {blank!r}", _get_thread_call(blank), ValidationError)
    for blank in BLANKS[1:]
)


def _utc_at(**fields: Any) -> _dt.datetime:
    return _dt.datetime(**fields, tzinfo=_dt.UTC)


_PLUS5 = _dt.timezone(_dt.timedelta(hours=5))
_MINUS5 = _dt.timezone(_dt.timedelta(hours=-5))
#: Instants outside the supported range (serde.MIN_DATETIME .. serde.MAX_DATETIME), among
#: them aware datetimes whose UTC value does not exist (datetime.min at +05:00).
OUT_OF_RANGE: tuple[tuple[str, _dt.datetime], ...] = (
    ("datetime.min UTC", _dt.datetime.min.replace(tzinfo=_dt.UTC)),
    ("datetime.max UTC", _dt.datetime.max.replace(tzinfo=_dt.UTC)),
    ("datetime.min at +05:00", _dt.datetime.min.replace(tzinfo=_PLUS5)),
    ("datetime.max at -05:00", _dt.datetime.max.replace(tzinfo=_MINUS5)),
    ("0001-01-01T23:59:59.999999Z", _utc_at(year=1, month=1, day=1, hour=23, minute=59,
                                            second=59, microsecond=999999)),
    ("9999-12-31T00:00:00Z", _utc_at(year=9999, month=12, day=31)),
)


def _datetime_calls(at: _dt.datetime) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    return (
        ("Message.created_at", lambda s: s.memory.save_messages([_msg(created_at=at)])),
        ("Thread.updated_at", lambda s: s.memory.save_thread(
            Thread(id="bi-x", resource_id=OWNER, updated_at=at))),
        ("list_messages start", lambda s: s.memory.list_messages(T1, start=at)),
        ("list_messages end", lambda s: s.memory.list_messages(T1, end=at)),
        ("clone_thread start", lambda s: s.memory.clone_thread(T1, start=at)),
        ("Span.started_at", lambda s: s.observability.create_spans([_span(started_at=at)])),
        ("Score.created_at", lambda s: s.scores.save_score(
            Score(id="bi-s", scorer_id="sc", run_id=RUN, score=1.0, created_at=at))),
    )


DATETIME_CASES: tuple[Case, ...] = tuple(
    Case(f"datetime {label}: {name}", call, ValidationError)
    for label, at in OUT_OF_RANGE for name, call in _datetime_calls(at)
)


def _nest(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def _open(storage: Any, **overrides: Any) -> Any:
    return reopen(storage, **overrides)


def _schema_error(storage: Any) -> type[AgentStorageError]:
    """``schema`` is an option of schema-aware backends; elsewhere it is an unknown option."""
    accepted = type(storage.backend).accepted_options
    return InvalidIdentifierError if "schema" in accepted else ConfigurationError


#: open_store / options / IndexSpec inputs: refused before any connection is made.
CONFIG_CASES: tuple[Case, ...] = (
    Case("empty URL", lambda s: open_store("", fresh=True), InvalidURLError),
    Case("URL without scheme", lambda s: open_store("agent.db", fresh=True), InvalidURLError),
    Case("URL with a bad scheme", lambda s: open_store("b@d://x", fresh=True), InvalidURLError),
    Case(
        "URL port out of range",
        lambda s: open_store("postgresql://u:pw@h:99999/db", fresh=True),
        InvalidURLError,
    ),
    Case(
        "URL option given twice",
        lambda s: open_store("memory://?debug=1&debug=0", fresh=True),
        InvalidURLError,
    ),
    Case("URL not a string", lambda s: open_store(_any(42), fresh=True), InvalidURLError),
    Case("unknown scheme", lambda s: open_store("nosuchdb://x", fresh=True), UnknownBackendError),
    Case("unknown option", lambda s: _open(s, no_such_option=1), ConfigurationError),
    Case(
        "URL boolean option not a bool",
        lambda s: open_store("memory://?debug=maybe", fresh=True),
        ConfigurationError,
    ),
    Case(
        "table_prefix with a quote",
        lambda s: _open(s, table_prefix='x"; DROP TABLE y; --'),
        InvalidIdentifierError,
    ),
    Case(
        "table_prefix with a dash",
        lambda s: _open(s, table_prefix="bad-prefix"),
        InvalidIdentifierError,
    ),
    Case(
        "table_prefix starting with a digit",
        lambda s: _open(s, table_prefix="1abc"),
        InvalidIdentifierError,
    ),
    Case(
        "table_prefix over 63 bytes",
        lambda s: _open(s, table_prefix="p" * 64),
        InvalidIdentifierError,
    ),
    Case("table_prefix not a str", lambda s: _open(s, table_prefix=5), InvalidIdentifierError),
    Case("schema with a semicolon", lambda s: _open(s, schema="a;b"), ConfigurationError),
    Case(
        "retention ttl unknown entity",
        lambda s: _open(s, retention={"ttl": {"planets": 5}}),
        ConfigurationError,
    ),
    Case(
        "retention max 0",
        lambda s: _open(s, retention=Retention(max_messages_per_thread=0)),
        ConfigurationError,
    ),
    Case(
        "retention ttl negative",
        lambda s: _open(s, retention={"ttl": {"messages": -1}}),
        ConfigurationError,
    ),
    Case("indexes not IndexSpec", lambda s: _open(s, indexes=["threads(id)"]), ConfigurationError),
    Case(
        "store mapping unknown key",
        lambda s: open_store({"default": "memory://", "billing": "memory://"}, fresh=True),
        ConfigurationError,
    ),
    Case(
        "store mapping without default",
        lambda s: open_store({"memory": False}, fresh=True),
        ConfigurationError,
    ),
    Case(
        "IndexSpec name with space",
        lambda s: IndexSpec(name="bad name", table="threads", columns=("id",)),
        InvalidIndexSpecError,
    ),
    Case(
        "IndexSpec unknown table",
        lambda s: IndexSpec(name="ix", table="users", columns=("id",)),
        InvalidIndexSpecError,
    ),
    Case(
        "IndexSpec column injection",
        lambda s: IndexSpec(name="ix", table="threads", columns=("id; DROP TABLE x",)),
        InvalidIndexSpecError,
    ),
    Case(
        "IndexSpec JSON key injection",
        lambda s: IndexSpec(
            name="ix", table="threads", columns=("metadata->>'a''; DROP TABLE x; --'",)
        ),
        InvalidIndexSpecError,
    ),
    Case(
        "IndexSpec where injection",
        lambda s: IndexSpec(name="ix", table="threads", columns=("id",), where="1=1; DROP TABLE x"),
        InvalidIndexSpecError,
    ),
    Case(
        "IndexSpec unknown method",
        lambda s: IndexSpec(name="ix", table="threads", columns=("id",), method="evil"),
        InvalidIndexSpecError,
    ),
    Case(
        "IndexSpec opclass injection",
        lambda s: IndexSpec(name="ix", table="threads", columns=("id",), opclass="x; y"),
        InvalidIndexSpecError,
    ),
    Case(
        "IndexSpec storage injection",
        lambda s: IndexSpec(
            name="ix", table="threads", columns=("id",), storage={"fillfactor": "10); DROP"}
        ),
        InvalidIndexSpecError,
    ),
    Case(
        "IndexSpec no columns",
        lambda s: IndexSpec(name="ix", table="threads", columns=()),
        InvalidIndexSpecError,
    ),
)


async def _run(case: Case, storage: Any) -> BaseException | None:
    try:
        result = case.call(storage)
        if inspect.isawaitable(result):
            result = await result
    except Exception as exc:
        return exc
    if hasattr(result, "close") and inspect.iscoroutinefunction(result.close):
        await result.close()  # a store opened by mistake
    return None


def _check(case: Case, storage: Any, exc: BaseException | None) -> str | None:
    expected = case.error
    if case.name.startswith("schema"):
        expected = _schema_error(storage)
    if exc is None:
        return f"{case.name}: no error (expected {expected.__name__})"
    if not isinstance(exc, expected) or not isinstance(exc, AgentStorageError):
        return f"{case.name}: {type(exc).__name__}: {exc} (expected {expected.__name__})"
    return None


class TestBadInput:
    async def test_the_table_is_big_enough(self) -> None:
        assert len(DOMAIN_CASES) + len(CONFIG_CASES) >= 40
        names = [c.name for c in DOMAIN_CASES + CONFIG_CASES + BLANK_ID_CASES + DATETIME_CASES]
        assert len(names) == len(set(names))

    @pytest.mark.parametrize("cases", [BLANK_ID_CASES, DATETIME_CASES],
                             ids=["blank-ids", "datetimes-out-of-range"])
    async def test_blank_ids_and_out_of_range_datetimes_are_refused(
        self, storage: Any, cases: tuple[Case, ...]
    ) -> None:
        """Whitespace-only ids (every id of every record and argument) and instants
        outside the supported datetime range: ValidationError, store unchanged."""
        await seed(storage)
        before = await snapshot(storage)
        failures = [problem for case in cases
                    if (problem := _check(case, storage, await _run(case, storage)))]
        assert not failures, "\n".join(failures)
        assert await snapshot(storage) == before

    async def test_domain_calls_refuse_bad_input_and_change_nothing(self, storage: Any) -> None:
        await seed(storage)
        before = await snapshot(storage)
        failures = []
        # The store is compared after every few cases (a snapshot is ~20 reads: per case
        # it dominated the run on slow backends); a change names the cases of its group.
        group = 6
        for start in range(0, len(DOMAIN_CASES), group):
            cases = DOMAIN_CASES[start : start + group]
            for case in cases:
                problem = _check(case, storage, await _run(case, storage))
                if problem:
                    failures.append(problem)
            after = await snapshot(storage)
            if after != before:
                changed = sorted(k for k in before if before[k] != after.get(k))
                names = ", ".join(c.name for c in cases)
                failures.append(f"the store changed ({changed}) during one of: {names}")
                before = after  # report each group's own damage only
        assert not failures, "\n".join(failures)

    async def test_configuration_refused_before_connecting(self, storage: Any) -> None:
        await seed(storage)
        before = await snapshot(storage)
        failures = [
            problem
            for case in CONFIG_CASES
            if (problem := _check(case, storage, await _run(case, storage)))
        ]
        assert not failures, "\n".join(failures)
        assert await snapshot(storage) == before

    async def test_oversized_record_round_trips_or_is_refused(self, storage: Any) -> None:
        """A 600 KB message: stored and read back exactly, or RecordTooLargeError (e.g. the
        DynamoDB 400 KB item limit) with nothing written."""
        await seed(storage)
        before = await snapshot(storage)
        big = "x" * (600 * 1024)
        try:
            await storage.memory.save_messages([_msg(id="bi-new-1", content={"blob": big})])
        except RecordTooLargeError:
            assert await snapshot(storage) == before
            return
        got = await storage.memory.get_messages(["bi-new-1"])
        assert len(got) == 1 and got[0].content == {"blob": big}

    async def test_oversized_batch_member_is_all_or_nothing(self, storage: Any) -> None:
        """A batch where one message is too big for the backend writes none of them."""
        await seed(storage)
        before = await snapshot(storage)
        batch = [
            _msg(id="bi-new-1", content="small"),
            _msg(id="bi-new-2", content={"blob": "y" * (600 * 1024)}),
        ]
        try:
            await storage.memory.save_messages(batch)
        except RecordTooLargeError:
            assert await snapshot(storage) == before
            return
        got = await storage.memory.get_messages(["bi-new-1", "bi-new-2"])
        assert [m.id for m in got] == ["bi-new-1", "bi-new-2"]
