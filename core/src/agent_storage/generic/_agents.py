"""The agents domain over a record store: an agent record (active config, latest version
number, last update) and one record per version."""

from __future__ import annotations

import datetime as _dt
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from attrs import evolve

from .._matching import metadata_matches
from ..domains.agents import AgentsDomain
from ..errors import ValidationError
from ..records import AgentConfig, AgentVersion
from ..serde import parse_datetime, utcnow
from ._base import Ops, Part, count, decode, encode, take
from ._contract import Item, Put
from ._keys import TOP, enc, num, prefix_range, ts

__all__ = ["GenericAgents"]


def _agent_orders(v: Mapping[str, Any]) -> dict[str, str | None]:
    config = v["config"]
    return {"key": enc(config["id"]), "created": enc(config["created_at"], config["id"])}


def _version_orders(v: Mapping[str, Any]) -> dict[str, str | None]:
    return {"key": enc(v["agent_id"], num(v["version"]))}


class GenericAgents(Part, AgentsDomain):
    """Agents newest created first; versions by number."""

    orders = {"agents": _agent_orders, "agent_versions": _version_orders}

    @staticmethod
    def _config(item: Item) -> AgentConfig:
        """The active config, shown with the agent's last update or activation time."""
        return evolve(decode(item.value["config"], AgentConfig),
                      updated_at=parse_datetime(item.value["updated_at"]))

    def _row(self, config: AgentConfig, latest: int, now: _dt.datetime,
             expect: int) -> Put:
        return self.put("agents", {"config": encode(config), "latest": latest,
                                   "updated_at": ts(now)}, expect)

    def _version(self, version: AgentVersion) -> Put:
        return self.put("agent_versions", encode(version), 0)

    async def _create_agent(self, agent: AgentConfig) -> AgentConfig:
        async def build() -> tuple[Ops, AgentConfig]:
            if await self.backend.get("agents", enc(agent.id)) is not None:
                raise ValidationError(f"agent {agent.id!r} already exists")
            version = AgentVersion(agent_id=agent.id, version=1, config=agent,
                                   created_at=utcnow())
            return [self._row(agent, 1, agent.updated_at, 0), self._version(version)], agent
        return await self.transact(build)

    async def _get_agent(self, agent_id: str) -> AgentConfig | None:
        item = await self.backend.get("agents", enc(agent_id))
        return None if item is None else self._config(item)

    async def _update_agent(self, agent_id: str, fields: Mapping[str, Any], *,
                            change_message: str | None,
                            now: _dt.datetime) -> AgentConfig | None:
        async def build() -> tuple[Ops, AgentConfig | None]:
            item = await self.backend.get("agents", enc(agent_id))
            if item is None:
                return [], None
            number = item.value["latest"] + 1
            config = evolve(self._config(item), **fields, version=number, updated_at=now)
            version = AgentVersion(agent_id=agent_id, version=number, config=config,
                                   change_message=change_message, created_at=now)
            return [self._row(config, number, now, item.version), self._version(version)], config
        return await self.transact(build)

    async def _matching(
        self, status: str | None, metadata: Mapping[str, Any] | None,
    ) -> AsyncGenerator[AgentConfig, None]:
        async for item in self.each("agents", "created", "", TOP, reverse=True):
            config = item.value["config"]
            if ((status is None or config["status"] == status)
                    and metadata_matches(config["metadata"], metadata)):
                yield self._config(item)

    async def _select_agents(self, status: str | None, metadata: Mapping[str, Any] | None, *,
                             offset: int, limit: int | None) -> list[AgentConfig]:
        return await take(self._matching(status, metadata), offset, limit)

    async def _count_agents(self, status: str | None,
                            metadata: Mapping[str, Any] | None) -> int:
        return await count(self._matching(status, metadata))

    async def _versions(self, agent_id: str) -> AsyncGenerator[Item, None]:
        start, stop = prefix_range(enc(agent_id))
        async for item in self.each("agent_versions", "key", start, stop):
            yield item

    async def _list_versions(self, agent_id: str) -> list[AgentVersion]:
        return [decode(i.value, AgentVersion) async for i in self._versions(agent_id)]

    async def _activate(self, agent_id: str, version: int, *,
                        now: _dt.datetime) -> AgentConfig | None:
        async def build() -> tuple[Ops, AgentConfig | None]:
            item = await self.backend.get("agents", enc(agent_id))
            chosen = await self.backend.get("agent_versions", enc(agent_id, num(version)))
            if item is None or chosen is None:
                return [], None
            config = decode(chosen.value["config"], AgentConfig)
            row = self._row(config, item.value["latest"], now, item.version)
            return [row], evolve(config, updated_at=now)
        return await self.transact(build)

    async def _delete_agent(self, agent_id: str) -> None:
        async def build() -> tuple[Ops, None]:
            item = await self.backend.get("agents", enc(agent_id))
            if item is None:
                return [], None
            ops: Ops = [self.delete("agents", item)]
            ops += [self.delete("agent_versions", v) async for v in self._versions(agent_id)]
            return ops, None
        await self.transact(build)
