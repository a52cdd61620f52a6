"""Records and errors of semantic recall."""

from __future__ import annotations

from attrs import frozen

from ..errors import ConfigurationError, ValidationError
from ..records import Message

__all__ = ["EmbedderMismatchError", "EmbeddingError", "Recall", "ScoredMessage"]


class EmbedderMismatchError(ConfigurationError):
    """The store holds vectors of another model or size than the embedder it was opened
    with: vectors of two models are never mixed."""


class EmbeddingError(ValidationError):
    """A vector is unusable (wrong length, NaN or infinite, all zeros), or the embedder
    returned the wrong number of vectors. Nothing was written."""


@frozen(kw_only=True)
class ScoredMessage:
    """A search hit: the message and its cosine similarity to the query (-1..1)."""

    message: Message
    score: float


@frozen(kw_only=True)
class Recall:
    """What ``memory.recall`` returns: ``messages`` (the thread's last messages plus each
    hit with its neighbours, de-duplicated, chronological) and ``hits`` (best first)."""

    messages: tuple[Message, ...]
    hits: tuple[ScoredMessage, ...]
