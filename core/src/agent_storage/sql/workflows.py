"""The workflows domain on SQL: run snapshots with row-locked read-modify-write updates."""

from __future__ import annotations

import datetime as _dt
from typing import Any

from sqlalchemy import delete, func, select, update

from ..domains.workflows import RunFilter, WorkflowsDomain
from ..errors import RunNotFoundError
from ..records import UNSET, WorkflowRun
from ._common import SqlDomain, _first
from .base import Tx
from .rows import trusted

__all__ = ["SqlWorkflows"]

_Run = trusted(WorkflowRun)


class SqlWorkflows(SqlDomain, WorkflowsDomain):
    """WorkflowsDomain primitives over SQLAlchemy Core.

    ``update_step_result``/``update_state`` read the row with ``SELECT ... FOR UPDATE``
    (PostgreSQL row lock) inside a write transaction; SQLite ignores FOR UPDATE and gets
    the same isolation from ``BEGIN IMMEDIATE`` (one writer at a time).
    """

    def __init__(self, backend: Any) -> None:
        super().__init__(backend)
        w = self.t.workflow_runs
        self.cols = (w.c.workflow_name, w.c.run_id, w.c.snapshot, w.c.resource_id, w.c.status,
                     w.c.created_at, w.c.updated_at)

    def _run(self, r: Any) -> WorkflowRun:
        return _Run(workflow_name=r[0], run_id=r[1], snapshot=self.c.from_json(r[2]),
                    resource_id=r[3], status=r[4], created_at=self.c.from_ts(r[5]),
                    updated_at=self.c.from_ts(r[6]))

    def _alive(self) -> list[Any]:
        cut = self._cutoff("workflow_runs")
        return [] if cut is None else [self.t.workflow_runs.c.updated_at > cut]

    async def _persist(self, run: WorkflowRun) -> WorkflowRun:
        w = self.t.workflow_runs
        c = self.c
        ins = self.b.insert(w)
        stmt = ins.on_conflict_do_update(
            index_elements=[w.c.run_id, w.c.workflow_name],
            set_={k: ins.excluded[k] for k in ("resource_id", "status", "snapshot", "updated_at")},
        ).returning(*self.cols)
        row = {"workflow_name": run.workflow_name, "run_id": run.run_id,
               "resource_id": run.resource_id, "status": run.status,
               "snapshot": c.json(dict(run.snapshot)), "created_at": c.ts(run.created_at),
               "updated_at": c.ts(run.updated_at)}

        def go(tx: Tx) -> WorkflowRun:
            return self._run(tx.first(stmt, row))

        return await self.b.transact(go)

    async def _get_run(self, run_id: str, workflow_name: str | None) -> WorkflowRun | None:
        w = self.t.workflow_runs
        stmt = select(*self.cols).where(w.c.run_id == run_id, *self._alive())
        if workflow_name is not None:
            stmt = stmt.where(w.c.workflow_name == workflow_name)
        stmt = stmt.order_by(w.c.created_at.desc(), w.c.workflow_name.desc()).limit(1)
        row = _first(await self.b.fetch(stmt))
        return None if row is None else self._run(row)

    def _where(self, flt: RunFilter) -> list[Any]:
        w = self.t.workflow_runs
        where = self._alive()
        if flt.workflow_name is not None:
            where.append(w.c.workflow_name == flt.workflow_name)
        if flt.resource_id is not None:
            where.append(w.c.resource_id == flt.resource_id)
        if flt.status is not None:
            where.append(w.c.status == flt.status)
        if flt.start is not None:
            where.append(w.c.created_at >= self.c.ts(flt.start))
        if flt.end is not None:
            where.append(w.c.created_at <= self.c.ts(flt.end))
        return where

    async def _select_runs(self, flt: RunFilter, *, offset: int,
                           limit: int | None) -> list[WorkflowRun]:
        w = self.t.workflow_runs
        stmt = (select(*self.cols).where(*self._where(flt))
                .order_by(w.c.created_at.desc(), w.c.run_id.desc()))
        if limit is not None:
            stmt = stmt.limit(limit)
        if offset:
            stmt = stmt.offset(offset)
        rows = await self.b.fetch(stmt)
        return [self._run(r) for r in rows]

    async def _count_runs(self, flt: RunFilter) -> int:
        stmt = select(func.count()).select_from(self.t.workflow_runs).where(*self._where(flt))
        return int((await self.b.fetch(stmt))[0][0])

    def _locked(self, tx: Tx, workflow_name: str,
                      run_id: str) -> WorkflowRun | None:
        w = self.t.workflow_runs
        stmt = select(*self.cols).where(
            w.c.workflow_name == workflow_name, w.c.run_id == run_id, *self._alive()
        ).with_for_update()
        row = tx.first(stmt)
        return None if row is None else self._run(row)

    def _store(self, tx: Tx, run: WorkflowRun) -> None:
        w = self.t.workflow_runs
        tx.execute(update(w).where(
            w.c.workflow_name == run.workflow_name, w.c.run_id == run.run_id).values(
                snapshot=self.c.json(dict(run.snapshot)), status=run.status,
                updated_at=self.c.ts(run.updated_at)))

    async def _update_step_result(
        self, workflow_name: str, run_id: str, step_id: str, result: Any, *, now: _dt.datetime
    ) -> WorkflowRun | None:
        def go(tx: Tx) -> WorkflowRun | None:
            run = self._locked(tx, workflow_name, run_id)
            if run is None:
                return None
            snapshot = dict(run.snapshot)
            context = snapshot.get("context")
            context = dict(context) if isinstance(context, dict) else {}
            context[step_id] = result
            snapshot["context"] = context
            new = _Run(workflow_name=run.workflow_name, run_id=run.run_id, snapshot=snapshot,
                       resource_id=run.resource_id, status=run.status,
                       created_at=run.created_at, updated_at=now)
            self._store(tx, new)
            return new

        return await self.b.transact(go)

    async def _update_state(
        self, workflow_name: str, run_id: str, *, status: str, result: Any, error: Any,
        expected_status: str | None, now: _dt.datetime,
    ) -> WorkflowRun | type[RunNotFoundError] | None:
        def go(tx: Tx) -> WorkflowRun | type[RunNotFoundError] | None:
            run = self._locked(tx, workflow_name, run_id)
            if run is None:
                return RunNotFoundError
            if expected_status is not None and run.status != expected_status:
                return None
            snapshot = dict(run.snapshot)
            snapshot["status"] = status
            if result is not UNSET:
                snapshot["result"] = result
            if error is not UNSET:
                snapshot["error"] = error
            new = _Run(workflow_name=run.workflow_name, run_id=run.run_id, snapshot=snapshot,
                       resource_id=run.resource_id, status=status,
                       created_at=run.created_at, updated_at=now)
            self._store(tx, new)
            return new

        return await self.b.transact(go)

    async def _delete_run(self, workflow_name: str, run_id: str) -> None:
        w = self.t.workflow_runs

        def go(tx: Tx) -> None:
            tx.execute(delete(w).where(w.c.workflow_name == workflow_name,
                                               w.c.run_id == run_id))

        await self.b.transact(go)
