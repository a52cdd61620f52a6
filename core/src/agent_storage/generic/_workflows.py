"""The workflows domain over a record store: runs keyed by (workflow_name, run_id)."""

from __future__ import annotations

import copy
import datetime as _dt
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from attrs import evolve

from ..domains.workflows import RunFilter, WorkflowsDomain
from ..errors import RunNotFoundError, ValidationError
from ..records import UNSET, WorkflowRun
from ..serde import parse_datetime
from ._base import Ops, Part, count, decode, encode, take
from ._contract import Item
from ._keys import TOP, after, enc, prefix_range, ts

__all__ = ["GenericWorkflows"]


def _run_orders(v: Mapping[str, Any]) -> dict[str, str | None]:
    name, run = v["workflow_name"], v["run_id"]
    return {"key": enc(name, run), "created": enc(v["created_at"], run, name),
            "run": enc(run, name)}


class GenericWorkflows(Part, WorkflowsDomain):
    """Runs, listed newest first by (created_at, run_id, workflow_name), found by run_id."""

    orders = {"workflow_runs": _run_orders}

    async def _item(self, workflow_name: str, run_id: str) -> tuple[Item | None, Item | None]:
        """(the stored record, the same if live)."""
        item = await self.backend.get("workflow_runs", enc(workflow_name, run_id))
        return item, item if item is not None and self._alive(item) else None

    async def _persist(self, run: WorkflowRun) -> WorkflowRun:
        async def build() -> tuple[Ops, WorkflowRun]:
            old, live = await self._item(run.workflow_name, run.run_id)
            stored = run if live is None else evolve(
                run, created_at=parse_datetime(live.value["created_at"]))
            return [self.put("workflow_runs", encode(stored), old.version if old else 0)], stored
        return await self.transact(build)

    async def _get_run(self, run_id: str, workflow_name: str | None) -> WorkflowRun | None:
        if workflow_name is not None:
            found = [(await self._item(workflow_name, run_id))[1]]
        else:
            start, stop = prefix_range(enc(run_id))
            found = [i async for i in self.each("workflow_runs", "run", start, stop)
                     if self._alive(i)]
        runs = [decode(i.value, WorkflowRun) for i in found if i is not None]
        if not runs:
            return None
        return max(runs, key=lambda r: (r.created_at, r.updated_at, r.workflow_name))

    def _alive(self, item: Item) -> bool:
        cutoff = self.cutoff("workflow_runs")
        return cutoff is None or item.value["updated_at"] >= ts(cutoff)

    async def _matching(self, flt: RunFilter) -> AsyncGenerator[WorkflowRun, None]:
        start = "" if flt.start is None else enc(ts(flt.start))
        stop = TOP if flt.end is None else after(enc(ts(flt.end)))
        async for item in self.each("workflow_runs", "created", start, stop, reverse=True):
            v = item.value
            if (self._alive(item)
                    and (flt.workflow_name is None or v["workflow_name"] == flt.workflow_name)
                    and (flt.resource_id is None or v["resource_id"] == flt.resource_id)
                    and (flt.status is None or v["status"] == flt.status)):
                yield decode(v, WorkflowRun)

    async def _select_runs(self, flt: RunFilter, *, offset: int,
                           limit: int | None) -> list[WorkflowRun]:
        return await take(self._matching(flt), offset, limit)

    async def _count_runs(self, flt: RunFilter) -> int:
        return await count(self._matching(flt))

    async def _update_step_result(self, workflow_name: str, run_id: str, step_id: str,
                                  result: Any, *, now: _dt.datetime) -> WorkflowRun | None:
        async def build() -> tuple[Ops, WorkflowRun | None]:
            _, item = await self._item(workflow_name, run_id)
            if item is None:
                return [], None
            run = decode(item.value, WorkflowRun)
            snapshot = copy.deepcopy(dict(run.snapshot))
            context = snapshot.setdefault("context", {})
            if not isinstance(context, dict):
                raise ValidationError(
                    f"workflow run {workflow_name!r}/{run_id!r}: snapshot['context'] is "
                    f"{type(context).__name__}, not an object; cannot set step {step_id!r}")
            context[step_id] = result
            new = evolve(run, snapshot=snapshot, updated_at=now)
            return [self.put("workflow_runs", encode(new), item.version)], new
        return await self.transact(build)

    async def _update_state(
        self, workflow_name: str, run_id: str, *, status: str, result: Any, error: Any,
        expected_status: str | None, now: _dt.datetime,
    ) -> WorkflowRun | type[RunNotFoundError] | None:
        async def build() -> tuple[Ops, WorkflowRun | type[RunNotFoundError] | None]:
            _, item = await self._item(workflow_name, run_id)
            if item is None:
                return [], RunNotFoundError
            run = decode(item.value, WorkflowRun)
            if expected_status is not None and run.status != expected_status:
                return [], None
            snapshot = {**run.snapshot, "status": status}
            if result is not UNSET:
                snapshot["result"] = result
            if error is not UNSET:
                snapshot["error"] = error
            new = evolve(run, snapshot=snapshot, status=status, updated_at=now)
            return [self.put("workflow_runs", encode(new), item.version)], new
        return await self.transact(build)

    async def _delete_run(self, workflow_name: str, run_id: str) -> None:
        await self.backend.write([self.delete("workflow_runs", None,
                                              enc(workflow_name, run_id))])
