"""Agents: stored configurations, versions (every update is one), the active version,
listing by status and metadata with pages."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agent_storage import AgentConfig, AgentNotFoundError, ValidationError
from agent_storage.testing._helpers import ts

pytestmark = pytest.mark.asyncio


def _agent(agent_id: str = "agent-1", **fields: Any) -> AgentConfig:
    fields.setdefault("name", "Helper")
    fields.setdefault("instructions", "Be helpful.")
    fields.setdefault("model", {"provider": "openai", "name": "gpt-4o", "temperature": 0.2})
    fields.setdefault("tools", [{"name": "search", "args": {"q": "string"}}, "calculator"])
    fields.setdefault("metadata", {"team": "core"})
    return AgentConfig(id=agent_id, **fields)


def _ids(page: Any) -> list[str]:
    return [a.id for a in page.items]


class TestAgentVersions:
    async def test_create_stores_version_one(self, storage: Any) -> None:
        agent = _agent(created_at=ts(1), updated_at=ts(1))
        created = await storage.agents.create_agent(agent)
        assert created == agent
        assert created.version == 1
        got = await storage.agents.get_agent("agent-1")
        assert got == agent
        assert got.tools == ({"name": "search", "args": {"q": "string"}}, "calculator")
        assert got.model == {"provider": "openai", "name": "gpt-4o", "temperature": 0.2}

    async def test_create_ignores_a_given_version(self, storage: Any) -> None:
        created = await storage.agents.create_agent(_agent(version=7))
        assert created.version == 1
        versions = await storage.agents.list_agent_versions("agent-1")
        assert [v.version for v in versions] == [1]

    async def test_get_missing_is_none(self, storage: Any) -> None:
        assert await storage.agents.get_agent("nope") is None

    async def test_duplicate_id_is_refused(self, storage: Any) -> None:
        await storage.agents.create_agent(_agent(name="First"))
        with pytest.raises(ValidationError):
            await storage.agents.create_agent(_agent(name="Second"))
        got = await storage.agents.get_agent("agent-1")
        assert got is not None and got.name == "First"
        assert len(await storage.agents.list_agent_versions("agent-1")) == 1

    async def test_update_makes_a_new_active_version(self, storage: Any) -> None:
        created = await storage.agents.create_agent(_agent(created_at=ts(1), updated_at=ts(1)))
        updated = await storage.agents.update_agent("agent-1", instructions="Be brief.",
                                                    status="published")
        assert updated.version == 2
        assert (updated.instructions, updated.status) == ("Be brief.", "published")
        assert (updated.name, updated.model, updated.tools, updated.metadata) == (
            created.name, created.model, created.tools, created.metadata)
        assert updated.created_at == ts(1)
        assert updated.updated_at > ts(1)
        assert await storage.agents.get_agent("agent-1") == updated

    async def test_versions_listed_oldest_first_with_change_messages(self, storage: Any) -> None:
        await storage.agents.create_agent(_agent(name="v1"))
        await storage.agents.update_agent("agent-1", name="v2", change_message="rename")
        await storage.agents.update_agent("agent-1", name="v3")
        versions = await storage.agents.list_agent_versions("agent-1")
        assert [v.version for v in versions] == [1, 2, 3]
        assert [v.config.name for v in versions] == ["v1", "v2", "v3"]
        assert [v.config.version for v in versions] == [1, 2, 3]
        assert [v.change_message for v in versions] == [None, "rename", None]
        assert all(v.agent_id == "agent-1" for v in versions)

    async def test_activate_an_older_version(self, storage: Any) -> None:
        await storage.agents.create_agent(_agent(name="v1", instructions="one"))
        await storage.agents.update_agent("agent-1", name="v2", instructions="two")
        active = await storage.agents.activate_agent_version("agent-1", 1)
        assert (active.version, active.name, active.instructions) == (1, "v1", "one")
        got = await storage.agents.get_agent("agent-1")
        assert got is not None and (got.version, got.name) == (1, "v1")
        assert [v.version for v in await storage.agents.list_agent_versions("agent-1")] == [1, 2]
        listed = await storage.agents.list_agents()
        assert [(a.id, a.version) for a in listed.items] == [("agent-1", 1)]

    async def test_update_after_activation_builds_on_the_active_version(self, storage: Any) -> None:
        await storage.agents.create_agent(_agent(name="v1", instructions="one"))
        await storage.agents.update_agent("agent-1", name="v2", instructions="two")
        await storage.agents.activate_agent_version("agent-1", 1)
        newest = await storage.agents.update_agent("agent-1", name="v3")
        assert (newest.version, newest.name, newest.instructions) == (3, "v3", "one")
        assert [v.version for v in await storage.agents.list_agent_versions("agent-1")] == [
            1, 2, 3]

    async def test_activate_missing_version_or_agent(self, storage: Any) -> None:
        await storage.agents.create_agent(_agent())
        with pytest.raises(AgentNotFoundError):
            await storage.agents.activate_agent_version("agent-1", 2)
        with pytest.raises(AgentNotFoundError):
            await storage.agents.activate_agent_version("nope", 1)
        with pytest.raises(ValidationError):
            await storage.agents.activate_agent_version("agent-1", 0)
        got = await storage.agents.get_agent("agent-1")
        assert got is not None and got.version == 1

    async def test_unknown_field_is_refused(self, storage: Any) -> None:
        await storage.agents.create_agent(_agent())
        with pytest.raises(ValidationError):
            await storage.agents.update_agent("agent-1", colour="blue")
        with pytest.raises(ValidationError):
            await storage.agents.update_agent("agent-1", version=5)
        assert len(await storage.agents.list_agent_versions("agent-1")) == 1

    async def test_invalid_value_is_refused_before_writing(self, storage: Any) -> None:
        await storage.agents.create_agent(_agent())
        with pytest.raises(ValidationError):
            await storage.agents.update_agent("agent-1", status="archived")
        with pytest.raises(ValidationError):
            await storage.agents.update_agent("agent-1", metadata={"bad": {1, 2}})
        got = await storage.agents.get_agent("agent-1")
        assert got is not None and (got.version, got.status) == (1, "draft")

    async def test_missing_agent_errors(self, storage: Any) -> None:
        with pytest.raises(AgentNotFoundError):
            await storage.agents.update_agent("nope", name="x")
        with pytest.raises(AgentNotFoundError):
            await storage.agents.list_agent_versions("nope")
        assert await storage.agents.get_agent("nope") is None

    async def test_delete_removes_every_version(self, storage: Any) -> None:
        await storage.agents.create_agent(_agent("agent-1"))
        await storage.agents.create_agent(_agent("agent-2"))
        await storage.agents.update_agent("agent-1", name="v2")
        await storage.agents.delete_agent("agent-1")
        assert await storage.agents.get_agent("agent-1") is None
        with pytest.raises(AgentNotFoundError):
            await storage.agents.list_agent_versions("agent-1")
        await storage.agents.delete_agent("agent-1")  # missing: a no-op
        assert _ids(await storage.agents.list_agents()) == ["agent-2"]
        recreated = await storage.agents.create_agent(_agent("agent-1", name="fresh"))
        assert recreated.version == 1
        assert [v.version for v in await storage.agents.list_agent_versions("agent-1")] == [1]

    async def test_concurrent_updates_get_distinct_versions(self, storage: Any) -> None:
        await storage.agents.create_agent(_agent())
        results = await asyncio.gather(*(
            storage.agents.update_agent("agent-1", name=f"n{n}") for n in range(5)))
        assert sorted(r.version for r in results) == [2, 3, 4, 5, 6]
        versions = await storage.agents.list_agent_versions("agent-1")
        assert [v.version for v in versions] == [1, 2, 3, 4, 5, 6]
        got = await storage.agents.get_agent("agent-1")
        assert got is not None and got.version == 6

    async def test_returned_json_is_a_copy(self, storage: Any) -> None:
        await storage.agents.create_agent(_agent(metadata={"tags": ["a"]}))
        got = await storage.agents.get_agent("agent-1")
        assert got is not None
        got.metadata["tags"].append("b")
        got.model["name"] = "changed"
        again = await storage.agents.get_agent("agent-1")
        assert again is not None
        assert again.metadata == {"tags": ["a"]}
        assert again.model["name"] == "gpt-4o"


class TestAgentListing:
    async def test_empty(self, storage: Any) -> None:
        page = await storage.agents.list_agents()
        assert (page.items, page.total, page.has_more) == ((), 0, False)

    async def test_newest_created_first_showing_active_versions(self, storage: Any) -> None:
        for n in range(3):
            await storage.agents.create_agent(_agent(f"agent-{n}", created_at=ts(n)))
        await storage.agents.update_agent("agent-0", name="renamed")
        page = await storage.agents.list_agents()
        assert _ids(page) == ["agent-2", "agent-1", "agent-0"]
        assert [(a.name, a.version) for a in page.items] == [
            ("Helper", 1), ("Helper", 1), ("renamed", 2)]
        assert page.total == 3

    async def test_filter_by_status(self, storage: Any) -> None:
        await storage.agents.create_agent(_agent("a", created_at=ts(0)))
        await storage.agents.create_agent(_agent("b", created_at=ts(1), status="published"))
        await storage.agents.create_agent(_agent("c", created_at=ts(2)))
        await storage.agents.update_agent("c", status="published")
        assert _ids(await storage.agents.list_agents(status="published")) == ["c", "b"]
        assert _ids(await storage.agents.list_agents(status="draft")) == ["a"]
        with pytest.raises(ValidationError):
            await storage.agents.list_agents(status="archived")

    async def test_filter_by_metadata(self, storage: Any) -> None:
        await storage.agents.create_agent(_agent("a", created_at=ts(0),
                                                 metadata={"team": "core", "tier": 1}))
        await storage.agents.create_agent(_agent("b", created_at=ts(1),
                                                 metadata={"team": "ops", "tier": 1}))
        await storage.agents.create_agent(_agent("c", created_at=ts(2),
                                                 metadata={"team": "core", "tier": 2}))
        assert _ids(await storage.agents.list_agents(metadata={"team": "core"})) == ["c", "a"]
        assert _ids(await storage.agents.list_agents(metadata={"team": "core", "tier": 1})) == [
            "a"]
        assert _ids(await storage.agents.list_agents(metadata={"tier": 1})) == ["b", "a"]
        assert _ids(await storage.agents.list_agents(metadata={"team": "nobody"})) == []
        assert _ids(await storage.agents.list_agents(metadata={"missing": "x"})) == []

    async def test_metadata_filter_compares_json_types(self, storage: Any) -> None:
        await storage.agents.create_agent(_agent("flag", created_at=ts(0),
                                                 metadata={"v": True}))
        await storage.agents.create_agent(_agent("one", created_at=ts(1), metadata={"v": 1}))
        await storage.agents.create_agent(_agent("text", created_at=ts(2),
                                                 metadata={"v": "1"}))
        assert _ids(await storage.agents.list_agents(metadata={"v": True})) == ["flag"]
        assert _ids(await storage.agents.list_agents(metadata={"v": 1})) == ["one"]
        assert _ids(await storage.agents.list_agents(metadata={"v": "1"})) == ["text"]

    async def test_metadata_filter_uses_the_active_version(self, storage: Any) -> None:
        await storage.agents.create_agent(_agent(metadata={"stage": "old"}))
        await storage.agents.update_agent("agent-1", metadata={"stage": "new"})
        assert _ids(await storage.agents.list_agents(metadata={"stage": "new"})) == ["agent-1"]
        assert _ids(await storage.agents.list_agents(metadata={"stage": "old"})) == []
        await storage.agents.activate_agent_version("agent-1", 1)
        assert _ids(await storage.agents.list_agents(metadata={"stage": "old"})) == ["agent-1"]

    async def test_pagination_and_ties(self, storage: Any) -> None:
        for name in ["b", "e", "a", "d", "c"]:
            await storage.agents.create_agent(_agent(name, created_at=ts(1)))
        await storage.agents.create_agent(_agent("z-old", created_at=ts(0)))
        first = await storage.agents.list_agents(page=0, per_page=4)
        last = await storage.agents.list_agents(page=1, per_page=4)
        assert (_ids(first), first.total, first.has_more) == (["e", "d", "c", "b"], 6, True)
        assert (_ids(last), last.total, last.has_more) == (["a", "z-old"], 6, False)
        everything = await storage.agents.list_agents(per_page=None)
        assert (len(everything.items), everything.total) == (6, 6)
