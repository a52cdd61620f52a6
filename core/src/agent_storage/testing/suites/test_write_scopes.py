"""Owner scopes on writes: every id-taking write of the memory domain accepts the owner it
acts for, and treats another owner's thread or message as not found, changing nothing.

``update_thread``, ``delete_thread``, ``update_messages`` and ``delete_messages`` take
``resource_id=``; ``clone_thread`` takes ``source_resource_id=`` (its ``resource_id=``
names the clone's owner). Without the scope a call is administrative (acts on any owner's
data), as before. Also here: re-saving a message under another thread moves it (one
message per id, both threads bumped).
"""

from __future__ import annotations

from typing import Any

import pytest

from agent_storage import Message, MessageUpdate, Thread, ThreadNotFoundError
from agent_storage.serde import to_wire
from agent_storage.testing._helpers import T0, ts

pytestmark = pytest.mark.asyncio(loop_scope="function")

ALICE, MALLORY = "alice", "mallory"
ALICE_T, MALLORY_T = "alice-t", "mallory-t"


def _m(thread_id: str, n: int) -> Message:
    return Message(id=f"{thread_id}-m{n}", thread_id=thread_id, role="user",
                   content=f"{thread_id} {n}", created_at=ts(n))


async def _seed(storage: Any) -> None:
    mem = storage.memory
    for tid, owner in ((ALICE_T, ALICE), (MALLORY_T, MALLORY)):
        await mem.save_thread(Thread(id=tid, resource_id=owner, title=owner, created_at=T0,
                                     updated_at=T0))
        await mem.save_messages([_m(tid, n) for n in range(3)])


async def _snapshot(storage: Any) -> dict[str, Any]:
    mem = storage.memory
    threads = (await mem.list_threads(per_page=None)).items
    messages = await mem.list_messages([t.id for t in threads], per_page=None)
    return {"threads": [to_wire(t) for t in threads],
            "messages": [to_wire(m) for m in messages.items]}


class TestWriteScopes:
    async def test_update_thread_of_another_owner_is_not_found(self, storage: Any) -> None:
        await _seed(storage)
        before = await _snapshot(storage)
        with pytest.raises(ThreadNotFoundError):
            await storage.memory.update_thread(ALICE_T, title="pwned", resource_id=MALLORY)
        with pytest.raises(ThreadNotFoundError):
            await storage.memory.update_thread(ALICE_T, metadata={"x": 1}, merge_metadata=True,
                                               resource_id=MALLORY)
        assert await _snapshot(storage) == before
        mine = await storage.memory.update_thread(ALICE_T, title="mine", resource_id=ALICE)
        assert mine.title == "mine"
        admin = await storage.memory.update_thread(ALICE_T, title="admin")  # unscoped
        assert admin.title == "admin"

    async def test_delete_thread_of_another_owner_changes_nothing(self, storage: Any) -> None:
        await _seed(storage)
        before = await _snapshot(storage)
        await storage.memory.delete_thread(ALICE_T, resource_id=MALLORY)
        await storage.memory.delete_thread("nobody-t", resource_id=MALLORY)
        assert await _snapshot(storage) == before
        await storage.memory.delete_thread(ALICE_T, resource_id=ALICE)
        assert await storage.memory.get_thread(ALICE_T) is None
        assert (await storage.memory.list_messages(ALICE_T)).items == ()
        assert await storage.memory.get_thread(MALLORY_T) is not None

    async def test_update_messages_of_another_owner_are_unknown(self, storage: Any) -> None:
        await _seed(storage)
        before = await _snapshot(storage)
        got = await storage.memory.update_messages(
            [MessageUpdate(id=f"{ALICE_T}-m0", content="pwned", metadata={"x": 1})],
            resource_id=MALLORY)
        assert got == []
        assert await _snapshot(storage) == before
        # a batch mixing both owners' messages: only the scope's own are changed
        got = await storage.memory.update_messages(
            [MessageUpdate(id=f"{ALICE_T}-m1", content="pwned"),
             MessageUpdate(id=f"{MALLORY_T}-m1", content="own")], resource_id=MALLORY)
        assert [m.id for m in got] == [f"{MALLORY_T}-m1"]
        (alice_m1,) = await storage.memory.get_messages([f"{ALICE_T}-m1"])
        assert alice_m1.content == f"{ALICE_T} 1"

    async def test_moving_into_another_owners_thread_is_not_found(self, storage: Any) -> None:
        await _seed(storage)
        before = await _snapshot(storage)
        with pytest.raises(ThreadNotFoundError):  # Mallory's own message into Alice's thread
            await storage.memory.update_messages(
                [MessageUpdate(id=f"{MALLORY_T}-m0", thread_id=ALICE_T)], resource_id=MALLORY)
        assert await _snapshot(storage) == before
        (moved,) = await storage.memory.update_messages(  # administrative: allowed
            [MessageUpdate(id=f"{MALLORY_T}-m0", thread_id=ALICE_T)])
        assert moved.thread_id == ALICE_T and moved.resource_id == ALICE

    async def test_delete_messages_leaves_another_owners_messages(self, storage: Any) -> None:
        await _seed(storage)
        before = await _snapshot(storage)
        assert await storage.memory.delete_messages(
            [f"{ALICE_T}-m0", f"{ALICE_T}-m1"], resource_id=MALLORY) == 0
        assert await _snapshot(storage) == before
        count = await storage.memory.delete_messages(
            [f"{ALICE_T}-m0", f"{MALLORY_T}-m0"], resource_id=MALLORY)
        assert count == 1
        left = await storage.memory.get_messages([f"{ALICE_T}-m0", f"{MALLORY_T}-m0"])
        assert [m.id for m in left] == [f"{ALICE_T}-m0"]
        alice = await storage.memory.get_thread(ALICE_T)
        (alice_before,) = [t for t in before["threads"] if t["id"] == ALICE_T]
        assert alice is not None and to_wire(alice) == alice_before  # not even bumped

    async def test_clone_of_another_owners_thread_is_not_found(self, storage: Any) -> None:
        await _seed(storage)
        before = await _snapshot(storage)
        with pytest.raises(ThreadNotFoundError):
            await storage.memory.clone_thread(ALICE_T, new_thread_id="stolen",
                                              resource_id=MALLORY, source_resource_id=MALLORY)
        assert await _snapshot(storage) == before
        assert await storage.memory.get_thread("stolen") is None
        clone, copies = await storage.memory.clone_thread(
            MALLORY_T, new_thread_id="mine", resource_id=MALLORY, source_resource_id=MALLORY)
        assert clone.resource_id == MALLORY and len(copies) == 3
        # Alice may give Mallory a copy: the source is hers, the clone is his
        gift, copied = await storage.memory.clone_thread(
            ALICE_T, new_thread_id="gift", resource_id=MALLORY, source_resource_id=ALICE)
        assert gift.resource_id == MALLORY and {m.resource_id for m in copied} == {MALLORY}


class TestMovingByResave:
    async def test_resaving_under_another_thread_moves_the_message(self, storage: Any) -> None:
        """One message per id on every backend, and both threads' updated_at bumped (as
        update_messages does when it moves a message)."""
        mem = storage.memory
        for tid in ("from-t", "to-t"):
            await mem.save_thread(Thread(id=tid, resource_id=ALICE, created_at=T0,
                                         updated_at=T0))
        await mem.save_messages([_m("from-t", 0), _m("from-t", 1)])
        from_before = await mem.get_thread("from-t")
        to_before = await mem.get_thread("to-t")
        moved = Message(id="from-t-m0", thread_id="to-t", role="assistant", content="moved",
                        created_at=ts(5))
        await mem.save_messages([moved])
        got = await mem.get_messages(["from-t-m0"])
        assert [(m.thread_id, m.content) for m in got] == [("to-t", "moved")]
        assert [m.id for m in (await mem.list_messages("from-t")).items] == ["from-t-m1"]
        assert [m.id for m in (await mem.list_messages("to-t")).items] == ["from-t-m0"]
        both = await mem.list_messages(["from-t", "to-t"], per_page=None)
        assert [m.id for m in both.items] == ["from-t-m1", "from-t-m0"]
        assert (await mem.stats(ALICE)).message_count == 2
        from_after, to_after = await mem.get_thread("from-t"), await mem.get_thread("to-t")
        assert from_before is not None and to_before is not None
        assert from_after is not None and to_after is not None
        assert from_after.updated_at > from_before.updated_at
        assert to_after.updated_at > to_before.updated_at
        # and deleting it by id removes the one message
        assert await mem.delete_messages(["from-t-m0"]) == 1
        assert await mem.get_messages(["from-t-m0"]) == []
