"""agent_storage.copy: every record moves between backends, resumably, and is verified.

The chain test copies a rich data set along CHAIN (memory -> SQLite file -> memory) and
compares every record field by field with the original. Adding a backend to the chain is
one line in CHAIN.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import itertools
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import agent_storage
import pytest
from agent_storage import (
    AgentConfig,
    Message,
    Resource,
    Score,
    Span,
    SpanUpdate,
    Thread,
    ValidationError,
)
from agent_storage.backends.memory import MemoryBackend
from agent_storage.copy import (
    KINDS,
    CopyReport,
    CopyVerificationError,
    copy_store,
    store_digests,
)
from agent_storage.serde import to_wire
from attrs import evolve


def _sqlite_ready() -> bool:
    if os.environ.get("CI") == "true":
        return True
    return importlib.util.find_spec("agent_storage_sqlite.store") is not None


requires_sqlite = pytest.mark.skipif(not _sqlite_ready(), reason="SQLite backend not written yet")

def _installed(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


# The pg and DynamoDB hops join the chain when their plugins are installed (the tox core
# env has neither, and must not skip: it simply does not collect them). DynamoDB lands
# domain by domain: its hop joins once every domain module exists.
_WITH_PG = _installed("agent_storage_pg")
_WITH_DYNAMODB = _installed("agent_storage_dynamodb") and _installed(
    *(f"agent_storage_dynamodb.{d}" for d in ("memory", "workflows", "scores", "observability",
                                             "agents")))

PG_URL = os.environ.get("AGENT_STORAGE_TEST_PG_URL",
                        "postgresql://postgres@127.0.0.1:5432/postgres")

# Each hop of the chain: a URL made from a tmp dir and a unique name (pg: a schema of its
# own, dropped afterwards). The data set starts in the first hop and must arrive intact in
# the last; adding a backend to the chain is one line in HOPS and one in CHAINS.
HOPS: dict[str, Callable[[Path, str], str]] = {
    "memory": lambda tmp, name: f"memory://{name}-src",
    "sqlite": lambda tmp, name: f"sqlite:///{tmp / (name + '.db')}",
    "sqlite-2": lambda tmp, name: f"sqlite:///{tmp / (name + '-2.db')}",
    "pg": lambda tmp, name: f"{PG_URL}?schema={name}",
    # A table of its own on the moto server the dynamodb_endpoint fixture starts.
    "dynamodb": lambda tmp, name: (f"dynamodb://{name}?region=us-east-1&create_table=true"
                                   f"&endpoint_url={_DYNAMO['endpoint']}"),
    "memory-end": lambda tmp, name: f"memory://{name}-end",
}
CHAINS = [
    pytest.param(["memory", "memory-end"], id="memory-memory"),
    pytest.param(["memory", "sqlite", "memory-end"], id="memory-sqlite-memory",
                 marks=requires_sqlite),
]
if _WITH_PG:
    CHAINS.append(pytest.param(["memory", "sqlite", "pg", "sqlite-2", "memory-end"],
                               id="memory-sqlite-pg-sqlite-memory", marks=requires_sqlite))
if _WITH_PG and _WITH_DYNAMODB:
    # The chain: every backend in a row, ending on a fresh SQLite file.
    CHAINS.append(pytest.param(["memory", "sqlite", "pg", "dynamodb", "sqlite-2"],
                               id="memory-sqlite-pg-dynamodb-sqlite", marks=requires_sqlite))


_DYNAMO: dict[str, str] = {}

#: moto's DynamoDB is not thread-safe: serve one request at a time (as tests/dynamodb does).
MOTO_SERVER = """
import os, sys
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
port = int(sys.argv[1])
os.environ.setdefault("MOTO_PORT", str(port))
run_simple("127.0.0.1", port, DomainDispatcherApplication(create_backend_app), threaded=False)
"""


@pytest.fixture(scope="module")
def dynamodb_endpoint():
    """A moto server over HTTP (``$AGENT_STORAGE_TEST_DYNAMODB_URL`` replaces it)."""
    import socket
    import subprocess
    import sys
    import time

    mp = pytest.MonkeyPatch()
    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):
        mp.setenv(key, value)
    given = os.environ.get("AGENT_STORAGE_TEST_DYNAMODB_URL")
    proc = None
    if given:
        _DYNAMO["endpoint"] = given
    else:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        proc = subprocess.Popen([sys.executable, "-c", MOTO_SERVER, str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    raise RuntimeError("the moto server did not start") from None
                time.sleep(0.1)
        _DYNAMO["endpoint"] = f"http://127.0.0.1:{port}"
    yield _DYNAMO["endpoint"]
    mp.undo()
    if proc is not None:
        proc.terminate()
        proc.wait(timeout=10)


async def _pg_ready() -> None:
    """Skip when no PostgreSQL answers, except under CI=true (it is part of CI)."""
    try:
        import asyncpg

        conn = await asyncpg.connect(PG_URL, timeout=5)
        await conn.close()
    except Exception as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no PostgreSQL at {PG_URL}: {exc}")


async def _drop_pg_schema(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_URL, timeout=5)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')  # name: copy + hex
    finally:
        await conn.close()

T0 = dt.datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC)


def _t(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


@pytest.fixture
def name():
    name = f"copy{uuid.uuid4().hex[:10]}"
    yield name
    MemoryBackend.forget(f"{name}-src")
    MemoryBackend.forget(f"{name}-end")
    MemoryBackend.forget(f"{name}-dst")


def _open(url: str) -> agent_storage.Storage:
    return agent_storage.open_store(url, fresh=True)


async def populate(s: agent_storage.Storage, *, threads: int = 5, per_thread: int = 13) -> None:
    """A data set that exercises every kind and the awkward cases."""
    mem = s.memory
    for r in range(3):
        await mem.save_resource(Resource(id=f"user-{r}", working_memory=f"# user {r}\nlikes ☕",
                                         metadata={"tier": r, "tags": ["a", "b"]},
                                         created_at=_t(r), updated_at=_t(100 + r)))
    for n in range(threads):
        owner = f"user-{n % 3}"
        await mem.save_thread(Thread(
            id=f"thread-{n}", resource_id=owner, title=None if n == 0 else f"Chat {n} — é",
            metadata={"n": n, "nested": {"ok": True, "list": [1, 2.5, None]}},
            agent_id="agent-a" if n % 2 else None, created_at=_t(10 + n), updated_at=_t(20 + n)))
        if n == threads - 1:
            continue  # a thread with no messages
        msgs = []
        for i in range(per_thread):
            # Pairs share a timestamp: their order is save order, which must survive the copy.
            msgs.append(Message(
                id=f"m-{n}-{i:03d}", thread_id=f"thread-{n}",
                role=("user", "assistant", "tool", "system")[i % 4],
                content={"text": f"msg {i}", "parts": [i, {"k": "v"}]} if i % 3 else f"plain {i}",
                type="text" if i % 5 else "tool-call", metadata={"i": i} if i % 2 else {},
                created_at=_t(1000 + n * 100 + i // 2)))
        await mem.save_messages(msgs)
    # An owner with an updated_at later than every message write (the copy must keep it).
    await mem.update_thread("thread-1", title="Renamed", metadata={"x": 1}, merge_metadata=True)

    wf = s.workflows
    await wf.persist_snapshot("onboarding", "run-1", {"status": "running", "context": {}},
                              resource_id="user-3")  # user-3 exists only here
    await wf.update_step_result("onboarding", "run-1", "step-a", {"ok": True})
    await wf.update_state("onboarding", "run-1", status="suspended", result={"wait": "human"})
    await wf.persist_snapshot("onboarding", "run-2", {"status": "done", "context": {"x": 1}})
    await wf.persist_snapshot("billing", "run-1", {"status": "failed"}, resource_id="user-0")
    await mem.save_resource(Resource(id="user-3", working_memory=None))

    for k in range(7):
        await s.scores.save_score(Score(
            id=f"score-{k}", scorer_id="relevance" if k % 2 else "toxicity", run_id=f"run-{k % 3}",
            score=k / 7, reason=None if k % 2 else "because", source="test" if k == 3 else "live",
            entity_type="agent", entity_id="agent-a", trace_id="trace-0", span_id="root",
            resource_id="user-1", thread_id="thread-1", input={"q": k}, output=[k],
            metadata={"k": k}, created_at=_t(5000 + k // 2)))

    obs = s.observability
    for tr in range(3):
        spans = [Span(trace_id=f"trace-{tr}", span_id="root", name="agent-run", span_type="agent",
                      started_at=_t(6000 + tr), ended_at=_t(6010 + tr), status="ok",
                      attributes={"model": "m"}, input={"q": tr}, output="answer",
                      agent_id="agent-a", resource_id="user-2", thread_id="thread-2",
                      run_id="run-1", created_at=_t(6000 + tr), updated_at=_t(6000 + tr))]
        for c in range(4):
            spans.append(Span(trace_id=f"trace-{tr}", span_id=f"step-{c}", parent_span_id="root",
                              name=f"step-{c}", span_type="tool", started_at=_t(6001 + tr + c),
                              is_event=c == 3, error={"msg": "boom"} if c == 2 else None,
                              created_at=_t(6000 + tr), updated_at=_t(6000 + tr)))
        await obs.create_spans(spans)
    await obs.update_spans([SpanUpdate(trace_id="trace-1", span_id="step-0", status="error")])
    # A trace with two root spans is copied once.
    await obs.create_spans([Span(trace_id="trace-two-roots", span_id=f"r{i}", name="run",
                                 span_type="agent", started_at=_t(7000 + i)) for i in range(2)])

    ag = s.agents
    await ag.create_agent(AgentConfig(id="agent-a", name="Support", instructions="v1",
                                      model={"provider": "x", "name": "m"}, tools=["search"],
                                      metadata={"team": "cx"}, created_at=_t(1), updated_at=_t(1)))
    await ag.update_agent("agent-a", instructions="v2", change_message="tone")
    await ag.update_agent("agent-a", status="published", tools=["search", "refund"])
    await ag.activate_agent_version("agent-a", 2)  # the active one is not the newest
    await ag.create_agent(AgentConfig(id="agent-b", name="Billing"))


async def dump(s: agent_storage.Storage) -> dict[str, list[dict[str, Any]]]:
    """Every record of a store, kind by kind, as wire dicts in a stable order."""
    out: dict[str, list[dict[str, Any]]] = {kind: [] for _, kind in KINDS}
    owners: set[str] = set()
    async for thread in s.memory.threads().order_by("created_at", "asc"):
        out["threads"].append(to_wire(thread))
        owners.add(thread.resource_id)
        page = await s.memory.list_messages(thread.id, per_page=None)
        out["messages"].extend(to_wire(m) for m in page.items)  # in read order: ties matter
    for run in (await s.workflows.list_runs()).items:
        out["workflow_runs"].append(to_wire(run))
        if run.resource_id:
            owners.add(run.resource_id)
    for score in (await s.scores.list_scores(per_page=None)).items:
        out["scores"].append(to_wire(score))
    for root in (await s.observability.list_traces(per_page=None)).items:
        trace = await s.observability.get_trace(root.trace_id)
        out["spans"].extend(to_wire(sp) for sp in trace.spans)
        owners.update(sp.resource_id for sp in trace.spans if sp.resource_id)
    for rid in sorted(owners | {"user-1"}):
        resource = await s.memory.get_resource(rid)
        if resource is not None:
            out["resources"].append(to_wire(resource))
    for agent in (await s.agents.list_agents(per_page=None)).items:
        out["agents"].append(to_wire(agent))
        for v in await s.agents.list_agent_versions(agent.id):
            wire = to_wire(v)
            if v.version == 1:
                wire.pop("created_at")  # documented: version 1's row time is the copy's
            out["agent_versions"].append(wire)
    out["spans"] = _dedupe(out["spans"])
    return out


def _dedupe(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen, result = set(), []
    for row in rows:
        key = (row["trace_id"], row["span_id"])
        if key not in seen:
            seen.add(key)
            result.append(row)
    return result


def assert_same(expected: dict[str, list[dict[str, Any]]], got: dict[str, list[dict[str, Any]]]):
    for kind in expected:
        assert len(got[kind]) == len(expected[kind]), kind
        for want, have in zip(expected[kind], got[kind], strict=True):
            for field_name in want:
                assert have[field_name] == want[field_name], (kind, want, field_name)
            assert set(have) == set(want), kind


@pytest.mark.parametrize("hops", CHAINS)
async def test_chain_copies_every_record_field_by_field(tmp_path, name, hops, request):
    if "pg" in hops:
        await _pg_ready()
    if "dynamodb" in hops:
        request.getfixturevalue("dynamodb_endpoint")
    stores = [_open(HOPS[hop](tmp_path, name)) for hop in hops]
    try:
        await populate(stores[0])
        original = await dump(stores[0])
        assert len(original["messages"]) == 4 * 13 and len(original["agent_versions"]) == 4
        assert len(original["spans"]) == 3 * 5 + 2 and len(original["resources"]) == 4
        for src, dst in itertools.pairwise(stores):
            report = await copy_store(src, dst, batch_size=4)
            assert report.ok and report.verified
            assert report["messages"].copied == 52 and report["threads"].copied == 5
            assert report["spans"].source_count == 17 and report["agent_versions"].copied == 4
            assert_same(original, await dump(dst))
        # Counts and checksums agree end to end, and with the standalone digest.
        assert await store_digests(stores[0]) == await store_digests(stores[-1])
        agent = await stores[-1].agents.get_agent("agent-a")
        assert agent.version == 2 and agent.instructions == "v2"
    finally:
        for s in stores:
            await s.close()
        if "pg" in hops:
            await _drop_pg_schema(name)


async def test_rerun_is_idempotent_and_resumes_after_interruption(tmp_path, name):
    src, dst = _open(f"memory://{name}-src"), _open(f"memory://{name}-dst")
    await populate(src)

    class Interrupted(Exception):
        pass

    def stop_midway(kind: str, done: int, total: int | None, phase: str) -> None:
        if kind == "messages" and done >= 20:
            raise Interrupted

    with pytest.raises(Interrupted):
        await copy_store(src, dst, batch_size=5, progress=stop_midway)
    partial = await dst.memory.stats()
    assert 0 < partial.message_count < 52
    report = await copy_store(src, dst, batch_size=5)  # resume
    assert report.ok
    again = await copy_store(src, dst, batch_size=50)  # and again: nothing changes
    assert again.ok
    assert [(k.kind, k.target_count) for k in again.kinds] == [
        (k.kind, k.target_count) for k in report.kinds]
    assert_same(await dump(src), await dump(dst))


async def test_agent_history_that_diverges_is_rebuilt(name):
    src, dst = _open(f"memory://{name}-src"), _open(f"memory://{name}-dst")
    await src.agents.create_agent(AgentConfig(id="a", name="A", instructions="one"))
    await src.agents.update_agent("a", instructions="two")
    await dst.agents.create_agent(AgentConfig(id="a", name="A", instructions="something else"))
    report = await copy_store(src, dst, domains=["agents"])
    assert report.ok
    assert [v.config.instructions for v in await dst.agents.list_agent_versions("a")] == [
        "one", "two"]


async def test_verification_fails_loudly_on_a_difference(name):
    src, dst = _open(f"memory://{name}-src"), _open(f"memory://{name}-dst")
    await populate(src, threads=2, per_thread=3)
    await dst.memory.save_thread(Thread(id="stray", resource_id="nobody"))
    with pytest.raises(CopyVerificationError, match="threads") as caught:
        await copy_store(src, dst)
    assert isinstance(caught.value, agent_storage.AgentStorageError)
    bad = {k.kind for k in caught.value.report.kinds if not k.ok}
    assert bad == {"threads"}
    assert caught.value.report["threads"].target_count == caught.value.report[
        "threads"].source_count + 1
    # Same counts, different content: the checksum catches it.
    await dst.memory.delete_thread("stray")
    assert (await copy_store(src, dst)).ok
    await dst.memory.update_messages([agent_storage.MessageUpdate(id="m-0-001", content="edited")])
    src_d, dst_d = await store_digests(src), await store_digests(dst)
    assert src_d["messages"][0] == dst_d["messages"][0]
    assert src_d["messages"][1] != dst_d["messages"][1]
    assert {k for k in src_d if src_d[k] != dst_d[k]} >= {"messages"}


async def test_domain_subset_and_progress(name):
    src, dst = _open(f"memory://{name}-src"), _open(f"memory://{name}-dst")
    await populate(src, threads=2, per_thread=3)
    events: list[tuple[str, int, int | None, str]] = []
    report = await copy_store(src, dst, domains="scores,workflows",
                              progress=lambda *e: events.append(e))
    assert [k.kind for k in report.kinds] == ["workflow_runs", "scores"]
    assert report["scores"].copied == 7 and report.ok
    assert (await dst.memory.list_threads()).items == ()
    assert ("scores", 7, 7, "copy") in events  # total known up front
    assert ("scores", 7, None, "verify") in events
    assert isinstance(report, CopyReport) and "scores" in report.summary()


@pytest.mark.parametrize("bar", ["rich", "tqdm", True])
async def test_progress_bars(name, bar, capsys):
    src, dst = _open(f"memory://{name}-src"), _open(f"memory://{name}-dst")
    await populate(src, threads=2, per_thread=3)
    assert (await copy_store(src, dst, progress=bar)).ok


async def test_urls_are_opened_and_closed(tmp_path, name):
    src = _open(f"memory://{name}-src")
    await populate(src, threads=2, per_thread=3)
    report = await copy_store(f"memory://{name}-src", f"memory://{name}-dst")
    assert report.ok and report["threads"].copied == 2
    dst = _open(f"memory://{name}-dst")
    assert (await dst.memory.get_thread("thread-0")) is not None


async def test_bad_arguments(name):
    src, dst = _open(f"memory://{name}-src"), _open(f"memory://{name}-dst")
    with pytest.raises(ValidationError, match="domains"):
        await copy_store(src, dst, domains=["memroy"])
    with pytest.raises(ValidationError, match="batch_size"):
        await copy_store(src, dst, batch_size=0)
    with pytest.raises(ValidationError, match="same store"):
        await copy_store(src, src)
    with pytest.raises(ValidationError, match="progress"):
        await copy_store(src, dst, progress="fancy")


async def test_ties_keep_save_order_across_page_boundaries(name):
    src, dst = _open(f"memory://{name}-src"), _open(f"memory://{name}-dst")
    await src.memory.save_thread(Thread(id="t", resource_id="u"))
    same = _t(0)
    ids = [f"z{i}" if i % 2 else f"a{i}" for i in range(11)]  # id order != save order
    await src.memory.save_messages([Message(id=i, thread_id="t", role="user", content=i,
                                            created_at=same) for i in ids])
    assert (await copy_store(src, dst, batch_size=3)).ok
    got = await dst.memory.list_messages("t", per_page=None)
    assert [m.id for m in got.items] == ids
    last = await dst.memory.list_messages("t", last=2)
    assert [m.id for m in last.items] == ids[-2:]


@pytest.mark.parametrize("batch", [1, 2, 3, 7, 100])
async def test_message_pages_mix_ties_and_distinct_times(name, batch):
    src, dst = _open(f"memory://{name}-src"), _open(f"memory://{name}-dst")
    await src.memory.save_thread(Thread(id="t", resource_id="u"))
    pattern = [0] * 7 + [1] + [2] * 5 + [3, 4] + [5] * 2  # groups of equal timestamps
    ids = [f"{'zyx'[i % 3]}{i:02d}" for i in range(len(pattern))]  # id order != save order
    await src.memory.save_messages([Message(id=i, thread_id="t", role="user", content=n,
                                            created_at=_t(sec))
                                    for n, (i, sec) in enumerate(zip(ids, pattern, strict=True))])
    report = await copy_store(src, dst, batch_size=batch)
    assert report.ok and report["messages"].copied == len(ids)
    got = await dst.memory.list_messages("t", per_page=None)
    assert [m.id for m in got.items] == ids


def test_checksum_is_order_independent_and_content_sensitive():
    from agent_storage.copy import _Digest

    a = Thread(id="a", resource_id="u", created_at=T0, updated_at=T0)
    b = evolve(a, id="b")
    one, two, three = _Digest(), _Digest(), _Digest()
    for d, rows in ((one, [a, b]), (two, [b, a]), (three, [a, evolve(b, title="x")])):
        for r in rows:
            d.add(r)
    assert one.hexdigest == two.hexdigest != three.hexdigest
    assert one.count == three.count == 2


@requires_sqlite
def test_docs_copy_page_snippets_run(tmp_path, monkeypatch):
    import re

    monkeypatch.chdir(tmp_path)
    page = Path(__file__).resolve().parents[2] / "docs" / "copy.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
    assert blocks
    for index, code in enumerate(blocks):
        exec(compile(code, f"copy.md[{index}]", "exec"), {"__name__": "__main__"})
    assert (tmp_path / "new.db").exists()


async def test_disabled_domains_are_left_out_or_refused(name):
    src = _open(f"memory://{name}-src")
    await populate(src, threads=2, per_thread=3)
    dst = agent_storage.open_store({"default": f"memory://{name}-dst", "scores": False},
                                   fresh=True)
    report = await copy_store(src, dst)
    assert "scores" not in {k.kind for k in report.kinds} and report.ok
    assert report["threads"].copied == 2
    with pytest.raises(agent_storage.DomainNotAvailableError, match="scores"):
        await copy_store(src, dst, domains=["scores"])
