"""Semantic recall: vectors for messages, search and recall (see docs/recall.md).

A store opened with ``open_store(url, embedder=...)`` embeds the text of each message
before ``save_messages``' transaction and stores the vector in it. ``memory.search_messages``
ranks an owner's (or a thread's) messages by cosine similarity to a query;
``memory.recall`` returns what an agent needs for its next turn in one call.
"""

from __future__ import annotations

from ._text import message_text
from ._types import EmbedderMismatchError, EmbeddingError, Recall, ScoredMessage

__all__ = [
    "EmbedderMismatchError",
    "EmbeddingError",
    "Recall",
    "ScoredMessage",
    "message_text",
]
