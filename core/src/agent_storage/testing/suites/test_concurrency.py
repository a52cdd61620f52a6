"""Concurrency guarantees, on every backend, through one store shared by many tasks.

* 50 tasks x 40 messages into 5 shared threads: exactly 2,000 messages, none lost or
  duplicated, and in every thread each task's messages read back in the order that task
  saved them (all messages carry the same ``created_at``, so only save order can order
  them: the bug class "messages saved in the same millisecond read back out of order").
* ``update_step_result`` on 10 steps of one run at once: all 10 results survive.
* ``update_state`` compare-and-set with 20 racers: exactly one winner.
* ``update_resource`` metadata merges at once (existing and missing resource): every key
  survives.
* ``update_agent`` at once: versions are 1..N with no duplicate and no gap.
* ``update_thread(merge_metadata=True)`` at once: every key survives.

Nothing here measures time: every assertion is about what was stored.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from agent_storage import Message, Thread
from agent_storage.testing._helpers import T0, uid

pytestmark = pytest.mark.asyncio

TASKS = 50
PER_TASK = 40
THREADS = 5
BATCH = 20  # each save_messages call carries 20 messages, four per thread


async def _gather(*aws: Any) -> list[Any]:
    return list(await asyncio.gather(*aws))


class TestConcurrency:
    async def test_50_tasks_save_2000_messages_into_5_threads(self, storage: Any) -> None:
        owner = uid("owner")
        threads = [
            await storage.memory.save_thread(Thread(id=uid(f"conc-t{i}"), resource_id=owner))
            for i in range(THREADS)
        ]
        tids = [t.id for t in threads]

        async def writer(task: int) -> list[str]:
            saved: list[str] = []
            for call in range(PER_TASK // BATCH):
                batch = []
                for j in range(BATCH):
                    n = call * BATCH + j
                    batch.append(
                        Message(
                            id=f"task{task:02d}-n{n:02d}-{tids[0][-6:]}",
                            thread_id=tids[(task + call + j) % THREADS],
                            role="user" if n % 2 == 0 else "assistant",
                            content={"task": task, "n": n},
                            created_at=T0,  # one instant: only save order orders them
                        )
                    )
                stored = await storage.memory.save_messages(batch)
                assert [m.id for m in stored] == [m.id for m in batch]
                saved += [m.id for m in batch]
            return saved

        written = await _gather(*(writer(t) for t in range(TASKS)))
        expected = {mid for ids in written for mid in ids}
        assert len(expected) == TASKS * PER_TASK

        everything = await storage.memory.list_messages(tids, per_page=None)
        got = [m.id for m in everything.items]
        assert len(got) == TASKS * PER_TASK, "messages lost or duplicated"
        assert not [mid for mid, c in Counter(got).items() if c > 1], "duplicated messages"
        assert set(got) == expected
        assert everything.total == TASKS * PER_TASK

        seen_total = 0
        for tid in tids:
            page = await storage.memory.list_messages(tid, per_page=None)
            seen_total += len(page.items)
            assert all(m.thread_id == tid and m.resource_id == owner for m in page.items)
            # Each task's messages in this thread appear in the order the task saved them.
            per_task: dict[int, list[int]] = {}
            for m in page.items:
                per_task.setdefault(m.content["task"], []).append(m.content["n"])
            for task, ns in per_task.items():
                assert ns == sorted(ns), f"thread {tid}: task {task} read back as {ns}"
            # Counting agrees with listing.
            counted = await storage.memory.list_messages(tid, per_page=1)
            assert counted.total == len(page.items)
        assert seen_total == TASKS * PER_TASK

        stats = await storage.memory.stats(owner)
        assert stats.thread_count == THREADS
        assert stats.message_count == TASKS * PER_TASK

    async def test_concurrent_step_results_all_survive(self, storage: Any) -> None:
        name, run_id = "conc-flow", uid("run")
        await storage.workflows.persist_snapshot(
            name, run_id, {"status": "running", "context": {"input": {"x": 1}}}
        )
        for round_ in range(3):
            steps = [f"r{round_}-step-{i}" for i in range(10)]
            await _gather(
                *(
                    storage.workflows.update_step_result(name, run_id, s, {"out": s, "i": i})
                    for i, s in enumerate(steps)
                )
            )
            snap = await storage.workflows.load_snapshot(name, run_id)
            assert snap is not None
            for i, s in enumerate(steps):
                assert snap["context"].get(s) == {"out": s, "i": i}, f"lost step {s}"
            assert snap["context"]["input"] == {"x": 1}
        snap = await storage.workflows.load_snapshot(name, run_id)
        assert len(snap["context"]) == 1 + 30

    async def test_compare_and_set_update_state_has_one_winner(self, storage: Any) -> None:
        name = "conc-cas"
        for round_ in range(3):
            run_id = uid(f"cas{round_}")
            await storage.workflows.persist_snapshot(name, run_id, {"status": "running"})
            results = await _gather(
                *(
                    storage.workflows.update_state(
                        name,
                        run_id,
                        status=f"done-by-{i}",
                        result={"winner": i},
                        expected_status="running",
                    )
                    for i in range(20)
                )
            )
            winners = [r for r in results if r is not None]
            assert len(winners) == 1, f"{len(winners)} racers won the compare-and-set"
            winner = winners[0]
            run = await storage.workflows.get_run(run_id, workflow_name=name)
            assert run is not None
            assert run.status == winner.status
            assert run.snapshot["status"] == winner.status
            assert run.snapshot["result"] == {"winner": int(winner.status.rsplit("-", 1)[1])}
            # The loser's expectation no longer holds: a late racer still loses.
            late = await storage.workflows.update_state(
                name, run_id, status="late", expected_status="running"
            )
            assert late is None
            assert (await storage.workflows.get_run(run_id, workflow_name=name)).status == (
                winner.status
            )

    async def test_concurrent_update_resource_merges_metadata(self, storage: Any) -> None:
        existing = uid("res")
        await storage.memory.update_resource(existing, metadata={"base": True})
        missing = uid("res-new")  # concurrent first writes race to create it
        for rid in (existing, missing):
            await _gather(
                *(storage.memory.update_resource(rid, metadata={f"k{i}": i}) for i in range(20))
            )
            res = await storage.memory.get_resource(rid)
            assert res is not None
            for i in range(20):
                assert res.metadata.get(f"k{i}") == i, f"{rid}: lost metadata key k{i}"
        assert (await storage.memory.get_resource(existing)).metadata["base"] is True

    async def test_concurrent_working_memory_and_metadata_updates(self, storage: Any) -> None:
        rid = uid("res-wm")
        await _gather(
            storage.memory.update_resource(rid, working_memory="# notes"),
            *(storage.memory.update_resource(rid, metadata={f"m{i}": i}) for i in range(10)),
        )
        res = await storage.memory.get_resource(rid)
        assert res.working_memory == "# notes"
        assert {f"m{i}" for i in range(10)} <= set(res.metadata)

    async def test_concurrent_thread_metadata_merges(self, storage: Any) -> None:
        thread = await storage.memory.save_thread(
            Thread(id=uid("conc-meta"), resource_id=uid("owner"), metadata={"base": 0})
        )
        await _gather(
            *(
                storage.memory.update_thread(thread.id, metadata={f"k{i}": i}, merge_metadata=True)
                for i in range(20)
            )
        )
        got = await storage.memory.get_thread(thread.id)
        assert got is not None
        assert dict(got.metadata) == {"base": 0, **{f"k{i}": i for i in range(20)}}

    async def test_concurrent_agent_updates_get_distinct_versions(self, storage: Any) -> None:
        from agent_storage import AgentConfig

        agent_id = uid("conc-agent")
        await storage.agents.create_agent(AgentConfig(id=agent_id, name="a"))
        await _gather(
            *(storage.agents.update_agent(agent_id, instructions=f"v{i}") for i in range(10))
        )
        versions = await storage.agents.list_agent_versions(agent_id)
        numbers = [v.version for v in versions]
        assert numbers == list(range(1, 12)), f"versions after 10 racing updates: {numbers}"
        bodies = Counter(v.config.instructions for v in versions[1:])
        assert bodies == Counter(f"v{i}" for i in range(10))

    async def test_concurrent_saves_of_one_thread_and_resave_of_messages(
        self, storage: Any
    ) -> None:
        """Racing upserts of the same thread and the same message ids never duplicate."""
        owner = uid("owner")
        tid = uid("conc-upsert")
        await _gather(
            *(
                storage.memory.save_thread(Thread(id=tid, resource_id=owner, title=f"t{i}"))
                for i in range(10)
            )
        )
        page = await storage.memory.list_threads(resource_id=owner)
        assert [t.id for t in page.items] == [tid]
        msgs = [
            Message(id=f"{tid}-m{n}", thread_id=tid, role="user", content=n, created_at=T0)
            for n in range(5)
        ]
        await _gather(*(storage.memory.save_messages(msgs) for _ in range(10)))
        got = await storage.memory.list_messages(tid, per_page=None)
        assert [m.id for m in got.items] == [m.id for m in msgs]
        assert got.total == 5
