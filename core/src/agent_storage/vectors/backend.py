"""What a backend needs to store and search vectors (the public face of the private
modules of :mod:`agent_storage.vectors`): the primitives' argument types, the float32
format, exact ranking, and the error for a store of another model."""

from __future__ import annotations

# domains first: its memory module imports _domain, which imports domains._base (a
# plugin or test importing this module before agent_storage.domains would otherwise
# find _domain half-initialised)
from .. import domains as _domains  # noqa: F401
from ._domain import VectorConfig, VectorMemory, VectorRow
from ._math import (
    SCORE_DIGITS,
    TopScores,
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
    "TopScores",
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
