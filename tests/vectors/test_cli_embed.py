"""``agent-storage embed URL``: embeds what was saved without an embedder, resumably."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from agent_storage import Message, Thread, open_store
from agent_storage.cli import main
from agent_storage.embedders import DeterministicTestEmbedder


def _seed(url: str, count: int) -> None:
    async def run() -> None:
        async with open_store(url, fresh=True) as store:
            await store.memory.save_thread(Thread(id="t", resource_id="u"))
            await store.memory.save_messages([
                Message(id=f"m{n:03d}", thread_id="t", role="user",
                        content="My name is Ada" if n == 7 else f"garden roses {n}")
                for n in range(count)])

    asyncio.run(run())


def _search(url: str) -> list[str]:
    async def run() -> list[str]:
        async with open_store(url, fresh=True, embedder=DeterministicTestEmbedder(32)) as s:
            hits = await s.memory.search_messages("what is my name", resource_id="u", top_k=1)
            return [h.message.id for h in hits]

    return asyncio.run(run())


def test_embed_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    _seed(url, 20)
    assert main(["embed", url, "--embedder", "test:32", "--batch-size", "8",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "embedded 20 message(s) with deterministic-test (32 dimensions)" in out
    assert _search(url) == ["m007"]
    assert main(["embed", url, "--embedder", "test:32", "--no-progress"]) == 0
    assert "embedded 0 message(s)" in capsys.readouterr().out  # nothing left: resumable


def test_embed_refuses_another_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    _seed(url, 3)
    assert main(["embed", url, "--embedder", "test:32", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["embed", url, "--embedder", "test:16", "--no-progress"]) == 1
    assert "32 dimensions" in capsys.readouterr().err


def test_bad_embedder_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    assert main(["embed", url, "--embedder", "nonsense"]) == 1
    assert "--embedder" in capsys.readouterr().err


def test_copy_command_carries_vectors_with_embedder(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """`agent-storage copy --embedder` opens both stores with it: vectors are copied as
    stored (no embedding in the destination, nothing left to embed there); without it
    the destination gets the messages only."""
    src = f"sqlite:///{tmp_path / 'src.db'}"
    _seed(src, 12)
    assert main(["embed", src, "--embedder", "test:32", "--no-progress"]) == 0
    with_vectors = f"sqlite:///{tmp_path / 'with.db'}"
    assert main(["copy", src, with_vectors, "--embedder", "test:32", "--no-progress"]) == 0
    assert _search(with_vectors) == ["m007"]
    without = f"sqlite:///{tmp_path / 'without.db'}"
    assert main(["copy", src, without, "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["embed", with_vectors, "--embedder", "test:32", "--no-progress"]) == 0
    assert "embedded 0 message(s)" in capsys.readouterr().out  # every vector arrived
    assert main(["embed", without, "--embedder", "test:32", "--no-progress"]) == 0
    assert "embedded 12 message(s)" in capsys.readouterr().out
