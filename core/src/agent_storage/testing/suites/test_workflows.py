"""Workflows: run listing (filters, date range, pagination), snapshots, atomic step
results and compare-and-set state changes."""

from __future__ import annotations

import asyncio
import datetime as _dt
from typing import Any

import pytest

from agent_storage import RunNotFoundError, ValidationError, WorkflowRun

pytestmark = pytest.mark.asyncio

COMPLEX_SNAPSHOT: dict[str, Any] = {
    "status": "suspended",
    "value": {"step-1": {"status": "success", "output": {"items": [1, 2.5, -3, True, None]}}},
    "context": {
        "input": {"query": "żółć 中文 🤖", "quote": "it's \"quoted\" \\ back", "empty": ""},
        "nested": {"a": {"b": {"c": {"d": {"e": [[], {}, [{"deep": "yes"}]]}}}}},
    },
    "activePaths": [[0, 1], [2]],
    "suspendedPaths": {"step-2": [1, 0]},
    "big": 2**53 + 1,
    "negative": -(2**62),
    "float": 0.1,
    "flags": [False, True, False],
    "timestamp": "2024-01-01T00:00:00+00:00",
}


async def _persist(storage: Any, name: str, run_id: str, status: str = "running",
                   **kwargs: Any) -> WorkflowRun:
    """Persist a run and wait a moment so created_at values of successive runs differ."""
    snapshot = {"status": status, "context": {}, **kwargs.pop("snapshot", {})}
    run: WorkflowRun = await storage.workflows.persist_snapshot(name, run_id, snapshot, **kwargs)
    await asyncio.sleep(0.002)
    return run


def _run_ids(page: Any) -> list[str]:
    return [r.run_id for r in page.items]


class TestWorkflowRunListing:
    async def test_empty_store_lists_nothing(self, storage: Any) -> None:
        page = await storage.workflows.list_runs()
        assert page.items == ()
        assert page.total == 0
        assert page.has_more is False

    async def test_lists_all_runs_newest_first(self, storage: Any) -> None:
        for n in range(4):
            await _persist(storage, "wf-a" if n % 2 else "wf-b", f"run-{n}")
        page = await storage.workflows.list_runs()
        assert _run_ids(page) == ["run-3", "run-2", "run-1", "run-0"]
        assert page.total == 4
        assert page.has_more is False
        created = [r.created_at for r in page.items]
        assert created == sorted(created, reverse=True)

    async def test_filters_by_workflow_name(self, storage: Any) -> None:
        for n in range(5):
            await _persist(storage, "wf-a" if n % 2 else "wf-b", f"run-{n}")
        page = await storage.workflows.list_runs(workflow_name="wf-a")
        assert _run_ids(page) == ["run-3", "run-1"]
        assert {r.workflow_name for r in page.items} == {"wf-a"}
        assert page.total == 2
        assert (await storage.workflows.list_runs(workflow_name="wf-none")).total == 0

    async def test_filters_by_resource(self, storage: Any) -> None:
        await _persist(storage, "wf", "r1", resource_id="user-1")
        await _persist(storage, "wf", "r2", resource_id="user-2")
        await _persist(storage, "wf", "r3", resource_id="user-1")
        await _persist(storage, "wf", "r4")
        page = await storage.workflows.list_runs(resource_id="user-1")
        assert _run_ids(page) == ["r3", "r1"]
        assert all(r.resource_id == "user-1" for r in page.items)
        assert _run_ids(await storage.workflows.list_runs(resource_id="user-2")) == ["r2"]

    async def test_filters_by_status(self, storage: Any) -> None:
        await _persist(storage, "wf", "r1", status="running")
        await _persist(storage, "wf", "r2", status="success")
        await _persist(storage, "wf", "r3", status="suspended")
        await _persist(storage, "wf", "r4", status="success")
        page = await storage.workflows.list_runs(status="success")
        assert _run_ids(page) == ["r4", "r2"]
        assert all(r.status == "success" for r in page.items)
        assert _run_ids(await storage.workflows.list_runs(status="failed")) == []

    async def test_filters_by_date_range_inclusive(self, storage: Any) -> None:
        runs = [await _persist(storage, "wf", f"r{n}") for n in range(5)]
        start, end = runs[1].created_at, runs[3].created_at
        both = await storage.workflows.list_runs(start=start, end=end)
        assert _run_ids(both) == ["r3", "r2", "r1"]
        assert _run_ids(await storage.workflows.list_runs(start=start)) == ["r4", "r3", "r2", "r1"]
        assert _run_ids(await storage.workflows.list_runs(end=end)) == ["r3", "r2", "r1", "r0"]
        later = runs[4].created_at + _dt.timedelta(days=1)
        assert (await storage.workflows.list_runs(start=later)).total == 0

    async def test_combined_filters(self, storage: Any) -> None:
        await _persist(storage, "wf-a", "r1", status="success", resource_id="u1")
        await _persist(storage, "wf-a", "r2", status="running", resource_id="u1")
        await _persist(storage, "wf-b", "r3", status="success", resource_id="u1")
        await _persist(storage, "wf-a", "r4", status="success", resource_id="u2")
        page = await storage.workflows.list_runs(workflow_name="wf-a", status="success",
                                                 resource_id="u1")
        assert _run_ids(page) == ["r1"]

    async def test_pagination_totals_and_has_more(self, storage: Any) -> None:
        for n in range(5):
            await _persist(storage, "wf", f"r{n}")
        first = await storage.workflows.list_runs(page=0, per_page=2)
        middle = await storage.workflows.list_runs(page=1, per_page=2)
        last = await storage.workflows.list_runs(page=2, per_page=2)
        beyond = await storage.workflows.list_runs(page=3, per_page=2)
        assert (_run_ids(first), first.total, first.has_more) == (["r4", "r3"], 5, True)
        assert (_run_ids(middle), middle.total, middle.has_more) == (["r2", "r1"], 5, True)
        assert (_run_ids(last), last.total, last.has_more) == (["r0"], 5, False)
        assert (_run_ids(beyond), beyond.total, beyond.has_more) == ([], 5, False)
        assert (first.page, first.per_page) == (0, 2)

    async def test_per_page_none_returns_everything(self, storage: Any) -> None:
        for n in range(7):
            await _persist(storage, "wf", f"r{n}")
        page = await storage.workflows.list_runs(per_page=None)
        assert len(page.items) == 7
        assert page.total == 7
        assert page.per_page is None
        assert page.has_more is False

    async def test_bad_paging_is_refused(self, storage: Any) -> None:
        with pytest.raises(ValidationError):
            await storage.workflows.list_runs(page=-1, per_page=10)
        with pytest.raises(ValidationError):
            await storage.workflows.list_runs(per_page=0)


class TestWorkflowSnapshots:
    async def test_persist_and_load_round_trip(self, storage: Any) -> None:
        snapshot = {"status": "running", "context": {"input": {"x": 1}}, "value": {}}
        run = await storage.workflows.persist_snapshot("wf", "run-1", snapshot,
                                                       resource_id="user-1")
        assert (run.workflow_name, run.run_id, run.resource_id) == ("wf", "run-1", "user-1")
        assert run.status == "running"
        assert await storage.workflows.load_snapshot("wf", "run-1") == snapshot

    async def test_load_missing_is_none(self, storage: Any) -> None:
        assert await storage.workflows.load_snapshot("wf", "nope") is None
        assert await storage.workflows.get_run("nope") is None

    async def test_overwrite_keeps_created_at(self, storage: Any) -> None:
        first = await _persist(storage, "wf", "run-1", status="running")
        second = await storage.workflows.persist_snapshot(
            "wf", "run-1", {"status": "success", "result": {"ok": True}})
        assert second.created_at == first.created_at
        assert second.updated_at >= first.updated_at
        stored = await storage.workflows.get_run("run-1", workflow_name="wf")
        assert stored is not None
        assert stored.created_at == first.created_at
        assert stored.status == "success"
        assert stored.snapshot == {"status": "success", "result": {"ok": True}}
        assert (await storage.workflows.list_runs()).total == 1

    async def test_complex_nested_snapshot_round_trip(self, storage: Any) -> None:
        await storage.workflows.persist_snapshot("wf", "run-1", COMPLEX_SNAPSHOT)
        loaded = await storage.workflows.load_snapshot("wf", "run-1")
        assert loaded == COMPLEX_SNAPSHOT
        assert loaded["big"] == 2**53 + 1 and isinstance(loaded["big"], int)
        assert loaded["context"]["input"]["query"] == "żółć 中文 🤖"
        run = await storage.workflows.get_run("run-1")
        assert run is not None and run.status == "suspended"

    async def test_returned_snapshot_is_a_copy(self, storage: Any) -> None:
        await storage.workflows.persist_snapshot("wf", "run-1", {"context": {"a": [1]}})
        loaded = await storage.workflows.load_snapshot("wf", "run-1")
        loaded["context"]["a"].append(2)
        loaded["context"]["b"] = 3
        assert await storage.workflows.load_snapshot("wf", "run-1") == {"context": {"a": [1]}}

    async def test_get_run_with_and_without_name(self, storage: Any) -> None:
        await _persist(storage, "wf-a", "run-1", status="running", resource_id="u1")
        by_id = await storage.workflows.get_run("run-1")
        by_both = await storage.workflows.get_run("run-1", workflow_name="wf-a")
        assert by_id is not None and by_both is not None
        assert by_id.workflow_name == by_both.workflow_name == "wf-a"
        assert by_id.snapshot == by_both.snapshot == {"status": "running", "context": {}}
        assert by_id.resource_id == "u1"
        assert await storage.workflows.get_run("run-1", workflow_name="wf-b") is None

    async def test_get_run_without_name_picks_newest(self, storage: Any) -> None:
        await _persist(storage, "wf-old", "shared", status="old")
        await _persist(storage, "wf-new", "shared", status="new")
        run = await storage.workflows.get_run("shared")
        assert run is not None
        assert (run.workflow_name, run.status) == ("wf-new", "new")
        old = await storage.workflows.get_run("shared", workflow_name="wf-old")
        assert old is not None and old.status == "old"

    async def test_delete_run(self, storage: Any) -> None:
        await _persist(storage, "wf-a", "run-1")
        await _persist(storage, "wf-b", "run-1")
        await storage.workflows.delete_run("wf-a", "run-1")
        assert await storage.workflows.get_run("run-1", workflow_name="wf-a") is None
        assert await storage.workflows.get_run("run-1", workflow_name="wf-b") is not None
        await storage.workflows.delete_run("wf-a", "run-1")  # missing: a no-op
        assert _run_ids(await storage.workflows.list_runs()) == ["run-1"]

    async def test_non_dict_snapshot_is_refused(self, storage: Any) -> None:
        with pytest.raises(ValidationError):
            await storage.workflows.persist_snapshot("wf", "run-1", ["not", "a", "dict"])
        with pytest.raises(ValidationError):
            await storage.workflows.persist_snapshot("wf", "run-1", {"bad": {1, 2}})
        assert (await storage.workflows.list_runs()).total == 0


class TestWorkflowAtomicUpdates:
    async def test_update_step_result_merges_into_context(self, storage: Any) -> None:
        await storage.workflows.persist_snapshot(
            "wf", "run-1", {"status": "running", "context": {"input": {"q": 1}}, "other": [1]})
        run = await storage.workflows.update_step_result("wf", "run-1", "step-1", {"out": 42})
        assert run.snapshot["context"] == {"input": {"q": 1}, "step-1": {"out": 42}}
        assert run.snapshot["other"] == [1]
        run = await storage.workflows.update_step_result("wf", "run-1", "step-1", "replaced")
        assert run.snapshot["context"]["step-1"] == "replaced"
        loaded = await storage.workflows.load_snapshot("wf", "run-1")
        assert loaded["context"] == {"input": {"q": 1}, "step-1": "replaced"}

    async def test_update_step_result_creates_missing_context(self, storage: Any) -> None:
        await storage.workflows.persist_snapshot("wf", "run-1", {"status": "running"})
        run = await storage.workflows.update_step_result("wf", "run-1", "s", [1, None, True])
        assert run.snapshot == {"status": "running", "context": {"s": [1, None, True]}}

    async def test_concurrent_step_results_all_survive(self, storage: Any) -> None:
        await storage.workflows.persist_snapshot("wf", "run-1", {"status": "running",
                                                                 "context": {}})
        await asyncio.gather(*(
            storage.workflows.update_step_result("wf", "run-1", f"step-{n}", {"n": n})
            for n in range(10)
        ))
        loaded = await storage.workflows.load_snapshot("wf", "run-1")
        assert loaded["context"] == {f"step-{n}": {"n": n} for n in range(10)}

    async def test_update_step_result_missing_run(self, storage: Any) -> None:
        with pytest.raises(RunNotFoundError):
            await storage.workflows.update_step_result("wf", "nope", "step", 1)
        assert (await storage.workflows.list_runs()).total == 0

    async def test_update_state_sets_status_result_and_error(self, storage: Any) -> None:
        await storage.workflows.persist_snapshot("wf", "run-1", {"status": "running",
                                                                 "context": {"a": 1}})
        run = await storage.workflows.update_state("wf", "run-1", status="failed",
                                                   result={"partial": [1]}, error="boom")
        assert run is not None
        assert run.status == "failed"
        assert run.snapshot == {"status": "failed", "context": {"a": 1},
                                "result": {"partial": [1]}, "error": "boom"}
        assert _run_ids(await storage.workflows.list_runs(status="failed")) == ["run-1"]
        assert _run_ids(await storage.workflows.list_runs(status="running")) == []

    async def test_update_state_without_result_keeps_snapshot(self, storage: Any) -> None:
        await storage.workflows.persist_snapshot(
            "wf", "run-1", {"status": "running", "result": "kept"})
        run = await storage.workflows.update_state("wf", "run-1", status="success")
        assert run is not None
        assert run.snapshot == {"status": "success", "result": "kept"}

    async def test_update_state_compare_and_set_mismatch(self, storage: Any) -> None:
        await storage.workflows.persist_snapshot("wf", "run-1", {"status": "running"})
        outcome = await storage.workflows.update_state(
            "wf", "run-1", status="success", expected_status="suspended")
        assert outcome is None
        run = await storage.workflows.get_run("run-1")
        assert run is not None and run.status == "running"
        assert run.snapshot == {"status": "running"}
        matched = await storage.workflows.update_state(
            "wf", "run-1", status="success", expected_status="running")
        assert matched is not None and matched.status == "success"

    async def test_update_state_race_has_exactly_one_winner(self, storage: Any) -> None:
        await storage.workflows.persist_snapshot("wf", "run-1", {"status": "suspended"})
        outcomes = await asyncio.gather(*(
            storage.workflows.update_state("wf", "run-1", status=f"resumed-{n}",
                                           expected_status="suspended")
            for n in range(10)
        ))
        winners = [o for o in outcomes if o is not None]
        assert len(winners) == 1
        run = await storage.workflows.get_run("run-1")
        assert run is not None
        assert run.status == winners[0].status
        assert run.snapshot["status"] == winners[0].status

    async def test_update_state_missing_run(self, storage: Any) -> None:
        with pytest.raises(RunNotFoundError):
            await storage.workflows.update_state("wf", "nope", status="success")
        with pytest.raises(RunNotFoundError):
            await storage.workflows.update_state("wf", "nope", status="success",
                                                 expected_status="running")

    async def test_update_bumps_updated_at_keeps_created_at(self, storage: Any) -> None:
        first = await _persist(storage, "wf", "run-1")
        run = await storage.workflows.update_step_result("wf", "run-1", "s", 1)
        assert run.created_at == first.created_at
        assert run.updated_at > first.updated_at
