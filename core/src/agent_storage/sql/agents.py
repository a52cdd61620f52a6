"""The agents domain on SQL: the active config per agent plus every version's config."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

from attrs import evolve
from sqlalchemy import delete, func, select, update

from ..domains.agents import AgentsDomain
from ..errors import ValidationError
from ..records import AgentConfig, AgentVersion
from ..serde import from_wire, to_wire
from ._common import SqlDomain, _first, _scalar, json_filter
from .base import Tx
from .rows import trusted

__all__ = ["SqlAgents"]

_Agent = trusted(AgentConfig)
_FIELDS = ("id", "name", "instructions", "model", "tools", "metadata", "status", "version",
           "created_at", "updated_at")


class SqlAgents(SqlDomain, AgentsDomain):
    """AgentsDomain primitives over SQLAlchemy Core."""

    def __init__(self, backend: Any) -> None:
        super().__init__(backend)
        self.cols = tuple(self.t.agents.c[f] for f in _FIELDS)

    def _agent(self, r: Any) -> AgentConfig:
        c = self.c
        return _Agent(id=r[0], name=r[1], instructions=r[2], model=c.from_json(r[3]),
                      tools=tuple(c.from_json(r[4])), metadata=c.from_json(r[5]), status=r[6],
                      version=int(r[7]), created_at=c.from_ts(r[8]), updated_at=c.from_ts(r[9]))

    def _row(self, a: AgentConfig) -> dict[str, Any]:
        c = self.c
        return {"id": a.id, "name": a.name, "instructions": a.instructions,
                "model": c.json(a.model), "tools": c.json(list(a.tools)),
                "metadata": c.json(dict(a.metadata)), "status": a.status, "version": a.version,
                "created_at": c.ts(a.created_at), "updated_at": c.ts(a.updated_at)}

    def _version_row(self, a: AgentConfig, change_message: str | None,
                     now: _dt.datetime) -> dict[str, Any]:
        return {"agent_id": a.id, "version": a.version, "config": self.c.json(to_wire(a)),
                "change_message": change_message, "created_at": self.c.ts(now)}

    async def _create_agent(self, agent: AgentConfig) -> AgentConfig:
        ag, av = self.t.agents, self.t.agent_versions

        def go(tx: Tx) -> AgentConfig:
            found = tx.first(select(ag.c.id).where(ag.c.id == agent.id))
            if found is not None:
                raise ValidationError(f"agent {agent.id!r} already exists")
            tx.execute(ag.insert(), self._row(agent))
            tx.execute(av.insert(), self._version_row(agent, None, agent.created_at))
            return agent

        return await self.b.transact(go)

    async def _get_agent(self, agent_id: str) -> AgentConfig | None:
        stmt = select(*self.cols).where(self.t.agents.c.id == agent_id)
        row = _first(await self.b.fetch(stmt))
        return None if row is None else self._agent(row)

    async def _update_agent(
        self, agent_id: str, fields: Mapping[str, Any], *, change_message: str | None,
        now: _dt.datetime,
    ) -> AgentConfig | None:
        ag, av = self.t.agents, self.t.agent_versions

        def go(tx: Tx) -> AgentConfig | None:
            row = tx.first(select(*self.cols).where(ag.c.id == agent_id).with_for_update())
            if row is None:
                return None
            active = self._agent(row)
            top = _scalar(tx.first(
                select(func.max(av.c.version)).where(av.c.agent_id == agent_id)))
            new = evolve(active, **fields, version=int(top or active.version) + 1,
                         updated_at=now)
            tx.execute(av.insert(), self._version_row(new, change_message, now))
            values = self._row(new)
            del values["id"]
            tx.execute(update(ag).where(ag.c.id == agent_id).values(**values))
            return new

        return await self.b.transact(go)

    def _where(self, status: str | None, metadata: Mapping[str, Any] | None) -> list[Any]:
        ag = self.t.agents
        where: list[Any] = []
        if status is not None:
            where.append(ag.c.status == status)
        if metadata:
            where.append(json_filter(self.b, ag.c.metadata, metadata))
        return where

    async def _select_agents(
        self, status: str | None, metadata: Mapping[str, Any] | None, *, offset: int,
        limit: int | None,
    ) -> list[AgentConfig]:
        ag = self.t.agents
        stmt = (select(*self.cols).where(*self._where(status, metadata))
                .order_by(ag.c.created_at.desc(), ag.c.id.desc()))
        if limit is not None:
            stmt = stmt.limit(limit)
        if offset:
            stmt = stmt.offset(offset)
        rows = await self.b.fetch(stmt)
        return [self._agent(r) for r in rows]

    async def _count_agents(self, status: str | None, metadata: Mapping[str, Any] | None) -> int:
        stmt = select(func.count()).select_from(self.t.agents).where(
            *self._where(status, metadata))
        return int((await self.b.fetch(stmt))[0][0])

    async def _list_versions(self, agent_id: str) -> list[AgentVersion]:
        av = self.t.agent_versions
        stmt = (select(av.c.version, av.c.config, av.c.change_message, av.c.created_at)
                .where(av.c.agent_id == agent_id).order_by(av.c.version))
        rows = await self.b.fetch(stmt)
        return [AgentVersion(agent_id=agent_id, version=int(r[0]),
                             config=from_wire(self.c.from_json(r[1]), AgentConfig),
                             change_message=r[2], created_at=self.c.from_ts(r[3]))
                for r in rows]

    async def _activate(self, agent_id: str, version: int, *,
                        now: _dt.datetime) -> AgentConfig | None:
        ag, av = self.t.agents, self.t.agent_versions

        def go(tx: Tx) -> AgentConfig | None:
            current = tx.first(
                select(ag.c.created_at).where(ag.c.id == agent_id).with_for_update())
            row = tx.first(select(av.c.config).where(
                av.c.agent_id == agent_id, av.c.version == version))
            if current is None or row is None:
                return None
            config = from_wire(self.c.from_json(row[0]), AgentConfig)
            agent = evolve(config, created_at=self.c.from_ts(current[0]), updated_at=now)
            values = self._row(agent)
            del values["id"]
            tx.execute(update(ag).where(ag.c.id == agent_id).values(**values))
            return agent

        return await self.b.transact(go)

    async def _delete_agent(self, agent_id: str) -> None:
        ag, av = self.t.agents, self.t.agent_versions

        def go(tx: Tx) -> None:
            tx.execute(delete(av).where(av.c.agent_id == agent_id))
            tx.execute(delete(ag).where(ag.c.id == agent_id))

        await self.b.transact(go)
