"""Vector checks, the float32 wire format and exact cosine ranking.

Every stored vector is unit length (cosine similarity is then a dot product) and kept as
float32, the precision of pgvector and of the SQLite blobs. Scores are rounded to 6
decimals on every backend (float32 holds ~7 significant digits), so numpy, pure Python and
pgvector rank the same messages identically.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections.abc import Callable, Sequence
from typing import Any, Final

from ._types import EmbeddingError

__all__ = ["TopScores", "Vector", "check_vector", "pack", "score", "top_scores", "unpack"]

#: A checked, unit-length vector (rounded to float32).
Vector = tuple[float, ...]

SCORE_DIGITS = 6
_SCALE = 10.0**SCORE_DIGITS


def check_vector(value: Any, dimensions: int, what: str = "vector") -> Vector:
    """``value`` as a unit-length float32 vector; EmbeddingError when it has the wrong
    length, a NaN or infinite component, or is all zeros."""
    if isinstance(value, str | bytes) or not hasattr(value, "__len__"):
        try:
            value = list(value)
        except TypeError:
            raise EmbeddingError(f"{what}: expected a sequence of floats, got "
                                 f"{type(value).__name__}") from None
    if len(value) != dimensions:
        raise EmbeddingError(f"{what}: expected {dimensions} dimensions, got {len(value)}")
    try:
        floats = list(map(float, value))
    except (TypeError, ValueError):
        raise EmbeddingError(f"{what}: every component must be a number") from None
    if not math.isfinite(sum(floats)):
        raise EmbeddingError(f"{what}: has a NaN or infinite component")
    norm = math.hypot(*floats)
    if norm == 0.0:
        raise EmbeddingError(f"{what}: is all zeros (it has no direction to compare)")
    if not math.isfinite(norm):  # components too large to square: scale first
        top = max(map(abs, floats))
        floats = [x / top for x in floats]
        norm = math.hypot(*floats)
    return tuple(array("f", [x / norm for x in floats]))


def pack(vector: Vector) -> bytes:
    """float32 little-endian bytes (the SQLite and DynamoDB storage format)."""
    data = array("f", vector)
    if data.itemsize != 4:  # pragma: no cover - every platform CPython runs on
        raise RuntimeError("float32 arrays are not 4 bytes here")
    import sys

    if sys.byteorder != "little":  # pragma: no cover
        data.byteswap()
    return data.tobytes()


def unpack(blob: bytes) -> array[float]:
    data = array("f")
    data.frombytes(blob)
    import sys

    if sys.byteorder != "little":  # pragma: no cover
        data.byteswap()
    return data


def rounded(value: float) -> float:
    """A score rounded to SCORE_DIGITS decimals, as ``numpy.round`` does it (half to even
    of the scaled value), so the pure-Python and numpy paths agree."""
    return round(value * _SCALE) / _SCALE


def score(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two unit vectors, rounded like every backend's."""
    return rounded(math.fsum(x * y for x, y in zip(a, b, strict=True)))


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:
        return None
    return numpy


def top_scores(
    query: Vector, blobs: Sequence[bytes], top_k: int, min_score: float | None,
    key: Callable[[int], Any] | None = None,
) -> list[tuple[int, float]]:
    """(index into ``blobs``, score) of the best ``top_k`` candidates, best first; equal
    scores by ``key(index)``. numpy when installed (one matrix product), pure Python
    otherwise: the same scores either way."""
    np = _numpy()
    if np is not None and len(blobs) > 16:
        matrix = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), len(query))
        raw = matrix.astype(np.float64) @ np.asarray(query, dtype=np.float64)
        scores = (np.rint(raw * _SCALE) / _SCALE).tolist()
    else:
        scores = [score(query, unpack(b)) for b in blobs]
    return best(scores, top_k, min_score, key)


def best(scores: Sequence[float], top_k: int, min_score: float | None,
         key: Callable[[int], Any] | None = None) -> list[tuple[int, float]]:
    """The ``top_k`` best (index, score), best first; ties by ``key(index)`` (default:
    index order). Only the candidates at or above the k-th score are sorted."""
    if not scores or top_k <= 0:
        return []
    floor = heapq.nlargest(top_k, scores)[-1]
    if min_score is not None:
        floor = max(floor, min_score)
    picked = [i for i, s in enumerate(scores) if s >= floor]
    picked.sort(key=lambda i: (-scores[i], key(i) if key else i))
    return [(i, scores[i]) for i in picked[:top_k]]


class TopScores:
    """A SQLite aggregate, ``top(seq, embedding, query, top_k, min_score)``: ranks the
    float32 blobs it is fed against ``query`` (packed float32) with :func:`top_scores`
    (equal scores: the higher ``seq``, the later-saved message, first) and returns JSON
    ``[[seq, score], ...]``, best first (NULL when fed nothing).

    Registered on SQLite connections (``sqlite3.Connection.create_aggregate``), it lets
    one statement score a search scope where the blobs are read, in the driver's thread,
    and join the winners' message rows: one read per search instead of two, and the
    blobs never cross to the event loop. Per-row work is two list appends; the scoring
    is one numpy matrix product (pure Python without numpy, same scores)."""

    name: Final = "agent_storage_top_scores"
    arity: Final = 5

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.blobs: list[bytes] = []
        self.args: tuple[bytes, int, float | None] | None = None

    def step(self, seq: int, blob: bytes, query: bytes, top_k: int,
             min_score: float | None) -> None:
        if self.args is None:
            self.args = (query, top_k, min_score)
        self.seqs.append(seq)
        self.blobs.append(blob)

    def finalize(self) -> str:
        if self.args is None:
            return "[]"
        import json

        query, top_k, min_score = self.args
        seqs = self.seqs
        top = top_scores(tuple(unpack(query)), self.blobs, top_k, min_score,
                         key=lambda i: -seqs[i])
        return json.dumps([[seqs[i], s] for i, s in top])
