"""What a backend needs to store and search vectors (the public face of the private
modules of :mod:`agent_storage.vectors`): the primitives' argument types, the float32
format, exact ranking, and the error for a store of another model."""

from __future__ import annotations

from ._domain import VectorConfig, VectorMemory, VectorRow
from ._math import (
    SCORE_DIGITS,
    Vector,
    best,
    check_vector,
    pack,
    rounded,
    score,
    top_scores,
    unpack,
)
from ._text import digest
from ._types import EmbedderMismatchError

__all__ = [
    "SCORE_DIGITS",
    "EmbedderMismatchError",
    "Vector",
    "VectorConfig",
    "VectorMemory",
    "VectorRow",
    "best",
    "check_vector",
    "digest",
    "pack",
    "rounded",
    "score",
    "top_scores",
    "unpack",
]
