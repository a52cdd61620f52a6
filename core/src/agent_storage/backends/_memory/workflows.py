"""Workflows domain of the in-memory backend."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ...domains.workflows import RunFilter, WorkflowsDomain
from ...errors import RunNotFoundError, ValidationError
from ...records import UNSET, WorkflowRun
from ._state import State, clone, json_copy, ttl_cutoff
from .memory import _replace

if TYPE_CHECKING:
    from ..memory import MemoryBackend


class MemoryWorkflows(WorkflowsDomain):
    def __init__(self, backend: MemoryBackend, state: State) -> None:
        self._backend = backend
        self._st = state

    def _live(self, key: tuple[str, str]) -> WorkflowRun | None:
        run = self._st.runs.get(key)
        cutoff = ttl_cutoff(self._backend.options, "workflow_runs")
        if run is None or (cutoff is not None and run.updated_at < cutoff):
            return None
        return run

    async def _persist(self, run: WorkflowRun) -> WorkflowRun:
        key = (run.workflow_name, run.run_id)
        with self._st.lock:
            old = self._live(key)
            stored = clone(run)
            if old is not None:
                stored = _replace(stored, created_at=old.created_at)
            self._st.runs[key] = stored
            self._st.run_names.setdefault(run.run_id, set()).add(run.workflow_name)
            return clone(stored)

    async def _get_run(self, run_id: str, workflow_name: str | None) -> WorkflowRun | None:
        with self._st.lock:
            names: Iterable[str] = (
                [workflow_name] if workflow_name is not None
                else self._st.run_names.get(run_id, ())
            )
            runs = [r for r in (self._live((n, run_id)) for n in names) if r is not None]
            if not runs:
                return None
            newest = max(runs, key=lambda r: (r.created_at, r.updated_at, r.workflow_name))
            return clone(newest)

    def _matching(self, flt: RunFilter) -> list[WorkflowRun]:
        cutoff = ttl_cutoff(self._backend.options, "workflow_runs")
        return [
            r for r in self._st.runs.values()
            if (cutoff is None or r.updated_at >= cutoff)
            and (flt.workflow_name is None or r.workflow_name == flt.workflow_name)
            and (flt.resource_id is None or r.resource_id == flt.resource_id)
            and (flt.status is None or r.status == flt.status)
            and (flt.start is None or r.created_at >= flt.start)
            and (flt.end is None or r.created_at <= flt.end)
        ]

    async def _select_runs(
        self, flt: RunFilter, *, offset: int, limit: int | None
    ) -> list[WorkflowRun]:
        with self._st.lock:
            rows = self._matching(flt)
            rows.sort(key=lambda r: (r.created_at, r.run_id, r.workflow_name), reverse=True)
            end = None if limit is None else offset + limit
            return [clone(r) for r in rows[offset:end]]

    async def _count_runs(self, flt: RunFilter) -> int:
        with self._st.lock:
            return len(self._matching(flt))

    async def _update_step_result(
        self, workflow_name: str, run_id: str, step_id: str, result: Any, *, now: _dt.datetime
    ) -> WorkflowRun | None:
        with self._st.lock:
            run = self._live((workflow_name, run_id))
            if run is None:
                return None
            snapshot = json_copy(run.snapshot)
            context = snapshot.setdefault("context", {})
            if not isinstance(context, dict):
                raise ValidationError(
                    f"workflow run {workflow_name!r}/{run_id!r}: snapshot['context'] is "
                    f"{type(context).__name__}, not an object; cannot set step {step_id!r}"
                )
            context[step_id] = json_copy(result)
            stored = _replace(run, snapshot=snapshot, updated_at=now)
            self._st.runs[(workflow_name, run_id)] = stored
            return clone(stored)

    async def _update_state(
        self, workflow_name: str, run_id: str, *, status: str, result: Any, error: Any,
        expected_status: str | None, now: _dt.datetime,
    ) -> WorkflowRun | type[RunNotFoundError] | None:
        with self._st.lock:
            run = self._live((workflow_name, run_id))
            if run is None:
                return RunNotFoundError
            if expected_status is not None and run.status != expected_status:
                return None
            snapshot = json_copy(run.snapshot)
            snapshot["status"] = status
            if result is not UNSET:
                snapshot["result"] = json_copy(result)
            if error is not UNSET:
                snapshot["error"] = json_copy(error)
            stored = _replace(run, snapshot=snapshot, status=status, updated_at=now)
            self._st.runs[(workflow_name, run_id)] = stored
            return clone(stored)

    async def _delete_run(self, workflow_name: str, run_id: str) -> None:
        with self._st.lock:
            self._st.runs.pop((workflow_name, run_id), None)
            names = self._st.run_names.get(run_id)
            if names is not None:
                names.discard(workflow_name)
                if not names:
                    del self._st.run_names[run_id]
