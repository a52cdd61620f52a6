"""Agents domain of the in-memory backend: a row per agent, its versions, an active pointer."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from attrs import define, evolve

from ...domains.agents import AgentsDomain
from ...errors import ValidationError
from ...records import AgentConfig, AgentVersion
from ...serde import utcnow
from ._state import State, clone, json_copy, metadata_matches
from .memory import _replace

if TYPE_CHECKING:
    from ..memory import MemoryBackend


@define
class AgentRow:
    """One agent: its versions by number and the active one. ``updated_at`` is the last
    update or activation; the active config is returned with it."""

    versions: dict[int, AgentVersion]
    active: int
    updated_at: _dt.datetime

    def config(self) -> AgentConfig:
        return _replace(self.versions[self.active].config, updated_at=self.updated_at)


class MemoryAgents(AgentsDomain):
    def __init__(self, backend: MemoryBackend, state: State) -> None:
        self._backend = backend
        self._st = state
        self._rows: dict[str, AgentRow] = state.agents

    async def _create_agent(self, agent: AgentConfig) -> AgentConfig:
        with self._st.lock:
            if agent.id in self._rows:
                raise ValidationError(f"agent {agent.id!r} already exists")
            config = clone(agent)
            version = AgentVersion(agent_id=agent.id, version=1, config=config,
                                   created_at=utcnow())
            self._rows[agent.id] = AgentRow({1: version}, 1, config.updated_at)
            return clone(config)

    async def _get_agent(self, agent_id: str) -> AgentConfig | None:
        with self._st.lock:
            row = self._rows.get(agent_id)
            return None if row is None else clone(row.config())

    async def _update_agent(
        self, agent_id: str, fields: Mapping[str, Any], *, change_message: str | None,
        now: _dt.datetime,
    ) -> AgentConfig | None:
        with self._st.lock:
            row = self._rows.get(agent_id)
            if row is None:
                return None
            number = max(row.versions) + 1
            changes = {k: json_copy(v) if k in ("model", "metadata") else v
                       for k, v in fields.items()}
            config = clone(evolve(row.config(), **changes, version=number, updated_at=now))
            row.versions[number] = AgentVersion(agent_id=agent_id, version=number, config=config,
                                                change_message=change_message, created_at=now)
            row.active = number
            row.updated_at = now
            return clone(config)

    def _matching(
        self, status: str | None, metadata: Mapping[str, Any] | None
    ) -> list[AgentConfig]:
        rows = [row.config() for row in self._rows.values()]
        return [
            c for c in rows
            if (status is None or c.status == status) and metadata_matches(c.metadata, metadata)
        ]

    async def _select_agents(
        self, status: str | None, metadata: Mapping[str, Any] | None, *, offset: int,
        limit: int | None,
    ) -> list[AgentConfig]:
        with self._st.lock:
            rows = self._matching(status, metadata)
            rows.sort(key=lambda c: (c.created_at, c.id), reverse=True)
            end = None if limit is None else offset + limit
            return [clone(c) for c in rows[offset:end]]

    async def _count_agents(self, status: str | None, metadata: Mapping[str, Any] | None) -> int:
        with self._st.lock:
            return len(self._matching(status, metadata))

    async def _list_versions(self, agent_id: str) -> list[AgentVersion]:
        with self._st.lock:
            row = self._rows.get(agent_id)
            if row is None:
                return []
            return [evolve(v, config=clone(v.config)) for _, v in sorted(row.versions.items())]

    async def _activate(
        self, agent_id: str, version: int, *, now: _dt.datetime
    ) -> AgentConfig | None:
        with self._st.lock:
            row = self._rows.get(agent_id)
            if row is None or version not in row.versions:
                return None
            row.active = version
            row.updated_at = now
            return clone(row.config())

    async def _delete_agent(self, agent_id: str) -> None:
        with self._st.lock:
            self._rows.pop(agent_id, None)
