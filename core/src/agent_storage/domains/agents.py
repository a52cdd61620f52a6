"""The agents domain: stored agent configurations with versions."""

from __future__ import annotations

import datetime as _dt
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any

from attrs import evolve

from ..errors import AgentNotFoundError, ValidationError
from ..records import AGENT_STATUSES, AGENT_UPDATABLE, AgentConfig, AgentVersion, Page
from ..serde import check_id, check_text, utcnow
from ._base import Domain, check_choice, check_page, fetch_page, metadata_filter, public

__all__ = ["AgentsDomain"]


class AgentsDomain(Domain):
    """Agent configurations; every update is a new version, one version is active."""

    name = "agents"

    @public
    async def create_agent(self, agent: AgentConfig) -> AgentConfig:
        """Store a new agent as version 1 (active). ValidationError if the id exists."""
        if not isinstance(agent, AgentConfig):
            raise ValidationError(f"create_agent: expected AgentConfig, got {type(agent).__name__}")
        await self._ready()
        return await self._create_agent(evolve(agent, version=1))

    @public
    async def get_agent(self, agent_id: str) -> AgentConfig | None:
        """The active version, or None."""
        check_id(agent_id, "agent_id")
        await self._ready()
        return await self._get_agent(agent_id)

    @public
    async def update_agent(
        self, agent_id: str, *, change_message: str | None = None, **fields: Any
    ) -> AgentConfig:
        """Save a new version with ``fields`` changed; it becomes the active version."""
        check_id(agent_id, "agent_id")
        unknown = set(fields) - set(AGENT_UPDATABLE)
        if unknown:
            raise ValidationError(
                f"update_agent: unknown fields {sorted(unknown)}; allowed {list(AGENT_UPDATABLE)}"
            )
        if change_message is not None:
            check_text(change_message, "change_message")
        # Validate the new values with AgentConfig's own rules before any write.
        evolve(AgentConfig(id=agent_id, name="probe"), **fields)
        await self._ready()
        updated = await self._update_agent(
            agent_id, fields, change_message=change_message, now=utcnow()
        )
        if updated is None:
            raise AgentNotFoundError(f"agent {agent_id!r} not found")
        return updated

    @public
    async def list_agents(
        self,
        *,
        status: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        page: int = 0,
        per_page: int | None = 100,
    ) -> Page[AgentConfig]:
        """Active versions, newest created first (created_at desc, id desc)."""
        st = None if status is None else check_choice(status, sorted(AGENT_STATUSES), "status")
        meta = metadata_filter(metadata)
        offset, limit = check_page(page, per_page)
        await self._ready()
        return await fetch_page(
            lambda n: self._select_agents(st, meta, offset=offset, limit=n),
            lambda: self._count_agents(st, meta),
            offset=offset, limit=limit, page=page,
        )

    @public
    async def list_agent_versions(self, agent_id: str) -> list[AgentVersion]:
        """Every version, oldest first. AgentNotFoundError if the agent does not exist."""
        check_id(agent_id, "agent_id")
        await self._ready()
        versions = await self._list_versions(agent_id)
        if not versions:
            raise AgentNotFoundError(f"agent {agent_id!r} not found")
        return sorted(versions, key=lambda v: v.version)

    @public
    async def activate_agent_version(self, agent_id: str, version: int) -> AgentConfig:
        """Make ``version`` the active one; AgentNotFoundError if it does not exist."""
        check_id(agent_id, "agent_id")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ValidationError(f"version: expected an int >= 1, got {version!r}")
        await self._ready()
        agent = await self._activate(agent_id, version, now=utcnow())
        if agent is None:
            raise AgentNotFoundError(f"agent {agent_id!r} version {version} not found")
        return agent

    @public
    async def delete_agent(self, agent_id: str) -> None:
        """Delete the agent and all its versions; a missing id is a no-op."""
        check_id(agent_id, "agent_id")
        await self._ready()
        await self._delete_agent(agent_id)

    @abstractmethod
    async def _create_agent(self, agent: AgentConfig) -> AgentConfig:
        """Insert the agent row and version 1 atomically; ValidationError (nothing written)
        if the id exists."""

    @abstractmethod
    async def _get_agent(self, agent_id: str) -> AgentConfig | None:
        """The active version's config with the agent's ``updated_at`` (its last update or
        activation), or None."""

    @abstractmethod
    async def _update_agent(
        self,
        agent_id: str,
        fields: Mapping[str, Any],
        *,
        change_message: str | None,
        now: _dt.datetime,
    ) -> AgentConfig | None:
        """Atomically: new version = max(version)+1 built from the active config with
        ``fields`` applied, updated_at=now (created_at kept), made active. None if missing."""

    @abstractmethod
    async def _select_agents(
        self,
        status: str | None,
        metadata: Mapping[str, Any] | None,
        *,
        offset: int,
        limit: int | None,
    ) -> list[AgentConfig]:
        """Active configs (as :meth:`_get_agent` returns them) with ``status`` equal and
        ``metadata`` matching (:func:`metadata_matches`), ordered by created_at desc, id
        desc, then ``offset``/``limit`` (None = all)."""

    @abstractmethod
    async def _count_agents(
        self, status: str | None, metadata: Mapping[str, Any] | None
    ) -> int:
        """How many agents :meth:`_select_agents` would return without offset/limit."""

    @abstractmethod
    async def _list_versions(self, agent_id: str) -> list[AgentVersion]:
        """Every version as saved, any order (core sorts by number); [] when the agent
        is missing."""

    @abstractmethod
    async def _activate(
        self, agent_id: str, version: int, *, now: _dt.datetime
    ) -> AgentConfig | None:
        """Make ``version`` active. The agent has one updated_at = its last update or
        activation (``now`` here); get_agent/list_agents show the active version's config
        with that updated_at; list_agent_versions shows each version as saved. None if the
        agent or version is missing."""

    @abstractmethod
    async def _delete_agent(self, agent_id: str) -> None:
        """Delete the agent and all its versions atomically; a missing id is a no-op."""
