"""The agents domain on DynamoDB: an agent's partition holds its head item (the active
config, ``maxv`` = newest version number) and one item per version. A new version is one
transaction: the head conditioned on the ``maxv`` it was built from, plus the version item
conditioned on not existing; a racing update retries, so versions never collide or skip."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agent_storage.domains.agents import AgentsDomain
from agent_storage.errors import ValidationError
from agent_storage.records import AgentConfig, AgentVersion
from agent_storage.serde import dumps, from_wire, loads, to_wire
from attrs import evolve

from ._part import Conflict, Part, key_of
from .client import TxCanceled
from .expr import Expr, Item, N, S, check_item_size
from .keys import index_def, index_pk
from .memory import _json_equal

if TYPE_CHECKING:
    from .store import DynamoBackend

__all__ = ["DynamoAgents"]


class DynamoAgents(Part, AgentsDomain):
    def __init__(self, backend: DynamoBackend) -> None:
        self.backend = backend

    def head_key(self, agent_id: str) -> Item:
        item, _ = self.keyed("agent", self.values(id=agent_id))
        return key_of(item)

    def head_item(self, agent: AgentConfig, maxv: int) -> Item:
        item, _ = self.keyed("agent", self.values(id=agent.id, status=agent.status,
                                                  created_at=agent.created_at))
        item.update(et=S("agent"), doc=S(dumps(to_wire(agent))), status=S(agent.status),
                    maxv=N(maxv))
        check_item_size(item, f"agent {agent.id!r}")
        return item

    def version_item(self, agent: AgentConfig, change_message: str | None,
                     at: _dt.datetime) -> Item:
        item, _ = self.keyed("agent_version", self.values(id=agent.id, version=agent.version))
        item.update(et=S("agent_version"), doc=S(dumps(to_wire(agent))),
                    created_at=self.when(at))
        if change_message is not None:
            item["change_message"] = S(change_message)
        check_item_size(item, f"agent {agent.id!r} version {agent.version}")
        return item

    def config_from(self, item: Item) -> AgentConfig:
        return from_wire(loads(item["doc"]["S"]), AgentConfig)

    async def _create_agent(self, agent: AgentConfig) -> AgentConfig:
        e = Expr()
        head = {"Put": {"Item": self.head_item(agent, 1),
                        "ConditionExpression": f"attribute_not_exists({e.n('pk')})",
                        **e.params()}}
        first = {"Put": {"Item": self.version_item(agent, None, agent.created_at)}}
        try:
            await self.table.transact([head, first])
        except TxCanceled as exc:
            if exc.failed(0):
                raise ValidationError(f"agent {agent.id!r} already exists") from exc.cause
            raise
        return agent

    async def _get_agent(self, agent_id: str) -> AgentConfig | None:
        item = await self.table.get(self.head_key(agent_id))
        return None if item is None else self.config_from(item)

    async def _new_head(self, agent_id: str, build: Any,
                        change_message: str | None, now: _dt.datetime,
                        new_version: bool) -> AgentConfig | None:
        async def attempt() -> AgentConfig | None:
            current = await self.table.get(self.head_key(agent_id))
            if current is None:
                return None
            maxv = int(current["maxv"]["N"])
            built: AgentConfig | None = await build(self.config_from(current), maxv)
            if built is None:
                return None
            e = Expr()
            ops = [{"Put": {"Item": self.head_item(built, built.version if new_version else maxv),
                            "ConditionExpression": f"{e.n('maxv')} = {e.num(maxv)}",
                            **e.params()}}]
            if new_version:
                f = Expr()
                ops.append({"Put": {"Item": self.version_item(built, change_message, now),
                                    "ConditionExpression": f"attribute_not_exists({f.n('pk')})",
                                    **f.params()}})
            try:
                await self.table.transact(ops)
            except TxCanceled as exc:
                if "ConditionalCheckFailed" in exc.reasons:
                    raise Conflict from exc.cause
                raise
            return built

        return await self.cas_loop(attempt)

    async def _update_agent(
        self, agent_id: str, fields: Mapping[str, Any], *, change_message: str | None,
        now: _dt.datetime,
    ) -> AgentConfig | None:
        async def build(active: AgentConfig, maxv: int) -> AgentConfig:
            return evolve(active, **fields, version=maxv + 1, updated_at=now)

        return await self._new_head(agent_id, build, change_message, now, new_version=True)

    async def _activate(self, agent_id: str, version: int, *,
                        now: _dt.datetime) -> AgentConfig | None:
        key, _ = self.keyed("agent_version", self.values(id=agent_id, version=version))

        async def build(active: AgentConfig, maxv: int) -> AgentConfig | None:
            item = await self.table.get(key_of(key))
            return None if item is None else evolve(self.config_from(item), updated_at=now)

        activated: AgentConfig | None = await self._new_head(agent_id, build, None, now,
                                                             new_version=False)
        return activated

    def _query(self, status: str | None) -> dict[str, Any]:
        index = "gsi1" if status is not None else "gsi2"
        idx = index_def(index)
        e = Expr()
        partition = index_pk("agent", index, self.values(status=status))
        return {"IndexName": index,
                "KeyConditionExpression": f"{e.n(idx.pk)} = {e.s(partition)}",
                "ScanIndexForward": False, **e.params()}

    @staticmethod
    def _pred(metadata: Mapping[str, Any] | None) -> Any:
        if not metadata:
            return None
        wanted = dict(metadata)

        def pred(item: Item) -> bool:
            meta = loads(item["doc"]["S"]).get("metadata") or {}
            return all(k in meta and _json_equal(meta[k], v) for k, v in wanted.items())

        return pred

    async def _select_agents(
        self, status: str | None, metadata: Mapping[str, Any] | None, *, offset: int,
        limit: int | None,
    ) -> list[AgentConfig]:
        items = await self.table.query(self._query(status), offset=offset, limit=limit,
                                       pred=self._pred(metadata))
        return [self.config_from(i) for i in items]

    async def _count_agents(self, status: str | None, metadata: Mapping[str, Any] | None) -> int:
        return await self.table.count(self._query(status), pred=self._pred(metadata))

    async def _list_versions(self, agent_id: str) -> list[AgentVersion]:
        e = Expr()
        pk = self.head_key(agent_id)["pk"]
        params = {"KeyConditionExpression": f"{e.n('pk')} = {e.v(pk)} AND "
                                            f"begins_with({e.n('sk')}, {e.s('V#')})",
                  "ConsistentRead": True, **e.params()}
        out = []
        for item in await self.table.query(params):
            config = self.config_from(item)
            out.append(AgentVersion(agent_id=agent_id, version=config.version, config=config,
                                    change_message=self.s(item, "change_message"),
                                    created_at=self.time(item, "created_at")))
        return out

    async def _delete_agent(self, agent_id: str) -> None:
        e = Expr()
        pk = self.head_key(agent_id)["pk"]
        params = {"KeyConditionExpression": f"{e.n('pk')} = {e.v(pk)}",
                  "ProjectionExpression": f"{e.n('pk')}, {e.n('sk')}",
                  "ConsistentRead": True, **e.params()}
        keys = [key_of(i) for i in await self.table.query(params)]
        head = self.head_key(agent_id)
        # The head first: the agent disappears at once; versions follow.
        await self.table.delete(head)
        await self.table.batch_write([{"DeleteRequest": {"Key": k}} for k in keys
                                      if k != head])

