"""Tenant isolation: every API that takes ``resource_id`` confines what it returns to that
owner. One test per method tries to reach another owner's data.

The owners are chosen to catch sloppy matching: a prefix of another owner, LIKE
wildcards (``_``, ``%``), a case variant, a trailing space and a DynamoDB key separator.
Matching is exact, everywhere.

Writes that take ids accept an owner scope too (``test_write_scopes.py``). A message
always belongs to its thread's owner: one naming another owner is refused, so writes can
never make a message visible to another owner (tested below).
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from agent_storage import Include, Message, MessageUpdate, Span, Thread, ValidationError
from agent_storage.testing._helpers import T0, ts

pytestmark = pytest.mark.asyncio

OWNERS = (
    "iso-user-1",
    "iso-user-10",  # the first is a prefix of it
    "iso-user_1",  # '_' is a LIKE wildcard matching '-'
    "iso-user-%",  # '%' is a LIKE wildcard matching anything
    "ISO-USER-1",  # case variant
    "iso-user-1 ",  # trailing space
    "iso-user#1",  # DynamoDB key separator
)
A = OWNERS[0]


@attrs.define
class World:
    threads: dict[str, list[str]]  # owner -> thread ids
    messages: dict[str, list[str]]  # owner -> message ids
    runs: dict[str, list[str]]
    traces: dict[str, list[str]]


def _key(owner: str) -> str:
    return str(OWNERS.index(owner))


async def make_world(storage: Any) -> World:
    world = World({}, {}, {}, {})
    for i, owner in enumerate(OWNERS):
        k = _key(owner)
        tids = [f"iso-t{k}-{j}" for j in range(2)]
        world.threads[owner] = tids
        world.messages[owner] = []
        for j, tid in enumerate(tids):
            await storage.memory.save_thread(
                Thread(id=tid, resource_id=owner, title=f"{owner}/{j}", created_at=ts(i * 10 + j))
            )
            batch = [
                Message(
                    id=f"{tid}-m{n}",
                    thread_id=tid,
                    role="user" if n % 2 == 0 else "assistant",
                    content=f"secret of {owner} #{n}",
                    created_at=ts(100 + i * 10 + n),
                )
                for n in range(3)
            ]
            await storage.memory.save_messages(batch)
            world.messages[owner] += [m.id for m in batch]
        run_id = f"iso-run-{k}"
        await storage.workflows.persist_snapshot(
            "iso-flow", run_id, {"status": "running", "owner": owner}, resource_id=owner
        )
        world.runs[owner] = [run_id]
        trace_id = f"iso-trace-{k}"
        await storage.observability.create_spans(
            [
                Span(
                    trace_id=trace_id,
                    span_id="root",
                    name="run",
                    span_type="agent",
                    resource_id=owner,
                    started_at=ts(i),
                )
            ]
        )
        world.traces[owner] = [trace_id]
    return world


class TestTenantIsolation:
    async def test_get_thread_with_another_owner_is_none(self, storage: Any) -> None:
        world = await make_world(storage)
        for owner in OWNERS:
            for other in OWNERS:
                for tid in world.threads[other]:
                    got = await storage.memory.get_thread(tid, resource_id=owner)
                    if owner == other:
                        assert got is not None and got.resource_id == owner
                    else:
                        assert got is None, f"{owner!r} read {other!r}'s thread {tid}"

    async def test_list_threads(self, storage: Any) -> None:
        world = await make_world(storage)
        for owner in OWNERS:
            for order_by in ("created_at", "updated_at", "title"):
                page = await storage.memory.list_threads(
                    resource_id=owner, order_by=order_by, per_page=None
                )
                assert sorted(t.id for t in page.items) == sorted(world.threads[owner])
                assert all(t.resource_id == owner for t in page.items)
            paged = await storage.memory.list_threads(resource_id=owner, per_page=1, page=1)
            assert paged.total == 2 and [t.resource_id for t in paged.items] == [owner]
            past_end = await storage.memory.list_threads(resource_id=owner, per_page=1, page=5)
            assert past_end.items == () and past_end.total == 2

    async def test_threads_query(self, storage: Any) -> None:
        world = await make_world(storage)
        for owner in OWNERS:
            q = storage.memory.threads().where(resource_id=owner)
            assert sorted(t.id for t in await q.all()) == sorted(world.threads[owner])
            assert await q.count() == 2
            first = await q.first()
            assert first is not None and first.resource_id == owner
            page = await q.page(0, 10)
            assert sorted(t.id for t in page.items) == sorted(world.threads[owner])
            streamed = [t.id async for t in q.order_by("updated_at", "asc")]
            assert sorted(streamed) == sorted(world.threads[owner])
            limited = await q.limit(1).offset(1).all()
            assert len(limited) == 1 and limited[0].resource_id == owner

    async def test_list_messages_of_another_owners_thread_is_empty(self, storage: Any) -> None:
        world = await make_world(storage)
        for owner in OWNERS:
            for other in OWNERS:
                tid = world.threads[other][0]
                page = await storage.memory.list_messages(tid, resource_id=owner)
                last = await storage.memory.list_messages(tid, resource_id=owner, last=5)
                if owner == other:
                    assert len(page.items) == 3 and page.total == 3
                    assert len(last.items) == 3
                else:
                    assert page.items == () and page.total == 0, f"{owner!r} read {other!r}"
                    assert last.items == ()

    async def test_list_messages_across_threads_keeps_only_the_owners(self, storage: Any) -> None:
        world = await make_world(storage)
        every_thread = [tid for owner in OWNERS for tid in world.threads[owner]]
        for owner in OWNERS:
            page = await storage.memory.list_messages(
                every_thread, resource_id=owner, per_page=None
            )
            assert sorted(m.id for m in page.items) == sorted(world.messages[owner])
            assert page.total == len(world.messages[owner])
            filtered = await storage.memory.list_messages(
                every_thread, resource_id=owner, roles=["user"], start=T0, per_page=100
            )
            assert filtered.items and all(m.resource_id == owner for m in filtered.items)

    async def test_include_windows_stay_with_the_owner(self, storage: Any) -> None:
        world = await make_world(storage)
        for owner in OWNERS:
            own_tid = world.threads[owner][0]
            foreign = [
                Include(id=world.messages[other][1], before=5, after=5)
                for other in OWNERS
                if other != owner
            ]
            page = await storage.memory.list_messages(
                own_tid, resource_id=owner, include=foreign, per_page=0
            )
            assert page.items == (), f"{owner!r} reached {[m.id for m in page.items]}"
            page = await storage.memory.list_messages(
                own_tid, resource_id=owner, include=foreign, per_page=10
            )
            assert sorted(m.id for m in page.items) == sorted(world.messages[owner][:3])

    async def test_stats(self, storage: Any) -> None:
        await make_world(storage)
        for owner in OWNERS:
            stats = await storage.memory.stats(owner)
            assert (stats.thread_count, stats.message_count) == (2, 6), owner
        everyone = await storage.memory.stats()
        assert (everyone.thread_count, everyone.message_count) == (
            2 * len(OWNERS),
            6 * len(OWNERS),
        )
        nobody = await storage.memory.stats("iso-user")
        assert (nobody.thread_count, nobody.message_count) == (0, 0)

    async def test_list_runs(self, storage: Any) -> None:
        world = await make_world(storage)
        for owner in OWNERS:
            page = await storage.workflows.list_runs(resource_id=owner)
            assert [r.run_id for r in page.items] == world.runs[owner]
            assert page.items[0].snapshot["owner"] == owner
            named = await storage.workflows.list_runs(
                resource_id=owner, workflow_name="iso-flow", status="running", per_page=5
            )
            assert [r.run_id for r in named.items] == world.runs[owner]

    async def test_list_traces(self, storage: Any) -> None:
        world = await make_world(storage)
        for owner in OWNERS:
            page = await storage.observability.list_traces(resource_id=owner)
            assert [s.trace_id for s in page.items] == world.traces[owner]

    async def test_a_message_always_belongs_to_its_threads_owner(self, storage: Any) -> None:
        """A message naming another owner than its thread's is refused (ValidationError,
        nothing written, also for the batch's other messages); left unset, the thread's
        owner is filled in."""
        world = await make_world(storage)
        a_thread, b = world.threads[A][0], OWNERS[1]
        ok = Message(id="iso-fine", thread_id=a_thread, role="user", content="x")
        forged = Message(id="iso-forged", thread_id=a_thread, role="user", content="x",
                         resource_id=b)
        with pytest.raises(ValidationError):
            await storage.memory.save_messages([ok, forged])
        assert await storage.memory.get_messages(["iso-fine", "iso-forged"]) == []
        existing = world.messages[A][0]
        with pytest.raises(ValidationError):  # nor by re-saving an existing message
            await storage.memory.save_messages([Message(
                id=existing, thread_id=a_thread, role="user", content="y", resource_id=b)])
        (kept,) = await storage.memory.get_messages([existing])
        assert kept.resource_id == A and kept.content != "y"
        (saved,) = await storage.memory.save_messages([ok])
        assert saved.resource_id == A
        (got,) = await storage.memory.get_messages(["iso-fine"])
        assert got.resource_id == A
        every_thread = [tid for owner in OWNERS for tid in world.threads[owner]]
        seen_by_b = await storage.memory.list_messages(every_thread, resource_id=b, per_page=None)
        assert "iso-fine" not in {m.id for m in seen_by_b.items}
        assert (await storage.memory.stats(b)).message_count == 6

    async def test_moving_a_message_moves_its_ownership(self, storage: Any) -> None:
        world = await make_world(storage)
        b = OWNERS[1]
        moved = world.messages[A][0]
        await storage.memory.update_messages(
            [MessageUpdate(id=moved, thread_id=world.threads[b][0])]
        )
        (got,) = await storage.memory.get_messages([moved])
        assert got.resource_id == b
        a_page = await storage.memory.list_messages(world.threads[A], resource_id=A, per_page=None)
        assert moved not in {m.id for m in a_page.items}
        b_page = await storage.memory.list_messages(world.threads[b], resource_id=b, per_page=None)
        assert moved in {m.id for m in b_page.items}

    async def test_clone_for_another_owner_copies_not_shares(self, storage: Any) -> None:
        world = await make_world(storage)
        b = OWNERS[1]
        source = world.threads[A][0]
        clone, copies = await storage.memory.clone_thread(source, resource_id=b)
        assert clone.resource_id == b and all(m.resource_id == b for m in copies)
        assert await storage.memory.get_thread(clone.id, resource_id=A) is None
        assert (await storage.memory.list_messages(clone.id, resource_id=A)).items == ()
        original = await storage.memory.list_messages(source, resource_id=A, per_page=None)
        assert sorted(m.id for m in original.items) == sorted(world.messages[A][:3])
        assert (await storage.memory.stats(A)).message_count == 6
        assert (await storage.memory.stats(b)).thread_count == 3
