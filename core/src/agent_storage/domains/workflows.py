"""The workflows domain: snapshots of suspended and resumable workflow runs."""

from __future__ import annotations

import datetime as _dt
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any

from attrs import frozen

from ..errors import RunNotFoundError, ValidationError
from ..records import UNSET, Page, WorkflowRun
from ..serde import check_id, check_json, check_text, utcnow
from ._base import Domain, check_page, fetch_page, opt_id, opt_time, public

__all__ = ["RunFilter", "WorkflowsDomain"]


@frozen(kw_only=True)
class RunFilter:
    """Which runs ``_select_runs``/``_count_runs`` return (start/end bound created_at)."""

    workflow_name: str | None = None
    resource_id: str | None = None
    status: str | None = None
    start: _dt.datetime | None = None
    end: _dt.datetime | None = None


class WorkflowsDomain(Domain):
    """Workflow run snapshots."""

    name = "workflows"

    @public
    async def persist_snapshot(
        self,
        workflow_name: str,
        run_id: str,
        snapshot: Mapping[str, Any],
        *,
        resource_id: str | None = None,
    ) -> WorkflowRun:
        """Insert or replace the run's snapshot; an existing run keeps created_at."""
        now = utcnow()
        run = WorkflowRun(
            workflow_name=workflow_name,
            run_id=run_id,
            snapshot=snapshot,
            resource_id=resource_id,
            created_at=now,
            updated_at=now,
        )
        await self._ready()
        return await self._persist(run)

    @public
    async def load_snapshot(self, workflow_name: str, run_id: str) -> dict[str, Any] | None:
        run = await self.get_run(run_id, workflow_name=workflow_name)
        return None if run is None else dict(run.snapshot)

    @public
    async def get_run(self, run_id: str, *, workflow_name: str | None = None) -> WorkflowRun | None:
        check_id(run_id, "run_id")
        name = opt_id(workflow_name, "workflow_name")
        await self._ready()
        return await self._get_run(run_id, name)

    @public
    async def list_runs(
        self,
        *,
        workflow_name: str | None = None,
        resource_id: str | None = None,
        status: str | None = None,
        start: _dt.datetime | None = None,
        end: _dt.datetime | None = None,
        page: int = 0,
        per_page: int | None = None,
    ) -> Page[WorkflowRun]:
        """Runs newest first (created_at desc, then run_id desc)."""
        flt = RunFilter(
            workflow_name=opt_id(workflow_name, "workflow_name"),
            resource_id=opt_id(resource_id, "resource_id"),
            status=None if status is None else check_text(status, "status"),
            start=opt_time(start, "start"),
            end=opt_time(end, "end"),
        )
        offset, limit = check_page(page, per_page)
        await self._ready()
        return await fetch_page(
            lambda n: self._select_runs(flt, offset=offset, limit=n),
            lambda: self._count_runs(flt),
            offset=offset, limit=limit, page=page,
        )

    @public
    async def update_step_result(
        self, workflow_name: str, run_id: str, step_id: str, result: Any
    ) -> WorkflowRun:
        """Atomically set ``snapshot["context"][step_id] = result``; concurrent calls for
        different steps all survive. RunNotFoundError if the run does not exist."""
        check_id(workflow_name, "workflow_name")
        check_id(run_id, "run_id")
        check_id(step_id, "step_id")
        check_json(result, "result")
        await self._ready()
        run = await self._update_step_result(workflow_name, run_id, step_id, result, now=utcnow())
        if run is None:
            raise RunNotFoundError(f"workflow run {workflow_name!r}/{run_id!r} not found")
        return run

    @public
    async def update_state(
        self,
        workflow_name: str,
        run_id: str,
        *,
        status: str,
        result: Any = UNSET,
        error: Any = UNSET,
        expected_status: str | None = None,
    ) -> WorkflowRun | None:
        """Set status (and ``snapshot["result"]``/``["error"]`` when given).

        Compare-and-set: with ``expected_status``, the update happens only if the current
        status equals it, else None is returned; of several racing callers exactly one
        wins. RunNotFoundError if the run does not exist.
        """
        check_id(workflow_name, "workflow_name")
        check_id(run_id, "run_id")
        check_text(status, "status")
        if not status:
            raise ValidationError("status: must be non-empty")
        if result is not UNSET:
            check_json(result, "result")
        if error is not UNSET:
            check_json(error, "error")
        if expected_status is not None:
            check_text(expected_status, "expected_status")
        await self._ready()
        outcome = await self._update_state(
            workflow_name,
            run_id,
            status=status,
            result=result,
            error=error,
            expected_status=expected_status,
            now=utcnow(),
        )
        if outcome is RunNotFoundError:
            raise RunNotFoundError(f"workflow run {workflow_name!r}/{run_id!r} not found")
        return outcome  # type: ignore[return-value]

    @public
    async def delete_run(self, workflow_name: str, run_id: str) -> None:
        """Delete a run; a missing run is a no-op."""
        check_id(workflow_name, "workflow_name")
        check_id(run_id, "run_id")
        await self._ready()
        await self._delete_run(workflow_name, run_id)

    # -- primitives --------------------------------------------------------------------

    @abstractmethod
    async def _persist(self, run: WorkflowRun) -> WorkflowRun:
        """Upsert by (workflow_name, run_id); keep created_at of an existing row."""

    @abstractmethod
    async def _get_run(self, run_id: str, workflow_name: str | None) -> WorkflowRun | None:
        """By run_id (and workflow_name if given); if several match, the newest by
        (created_at, updated_at, workflow_name), highest wins."""

    @abstractmethod
    async def _select_runs(
        self, flt: RunFilter, *, offset: int, limit: int | None
    ) -> list[WorkflowRun]:
        """Ordered by created_at desc, run_id desc, workflow_name desc."""

    @abstractmethod
    async def _count_runs(self, flt: RunFilter) -> int:
        """How many live (unexpired) runs match ``flt``."""

    @abstractmethod
    async def _update_step_result(
        self, workflow_name: str, run_id: str, step_id: str, result: Any, *, now: _dt.datetime
    ) -> WorkflowRun | None:
        """Row-locked read-modify-write of snapshot["context"][step_id] (creating "context"
        if absent; a "context" that is not an object -> ValidationError, nothing written);
        updated_at=now; None if the run is missing."""

    @abstractmethod
    async def _update_state(
        self,
        workflow_name: str,
        run_id: str,
        *,
        status: str,
        result: Any,
        error: Any,
        expected_status: str | None,
        now: _dt.datetime,
    ) -> WorkflowRun | type[RunNotFoundError] | None:
        """Atomic compare-and-set. Return the updated run, None when expected_status did not
        match, or the class RunNotFoundError when the run is missing. Sets the status column
        and snapshot["status"]; result/error go to snapshot["result"]/["error"] unless UNSET."""

    @abstractmethod
    async def _delete_run(self, workflow_name: str, run_id: str) -> None:
        """Delete the run; a missing run is a no-op (idempotent)."""
