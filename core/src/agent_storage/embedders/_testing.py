"""A deterministic embedder for tests: hashed word and word-pair features, no model."""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections.abc import Sequence

__all__ = ["DeterministicTestEmbedder"]

_WORD = re.compile(r"[a-z0-9]+")
# Words that carry no topic: without them "What's my name?" is about "name".
_STOP = frozenset(
    "a an and are as at be but by do does for from has have i in is it its me my of on or "
    "our s so that the their them they this to was we were what when where which who why "
    "will with you your".split()
)


class DeterministicTestEmbedder:
    """A test embedder (not a language model): each word and each pair of neighbouring
    words adds +-1 to a dimension chosen by a hash of it, then the vector is normalised.
    Texts sharing words score high; the same text always gives the same vector, in every
    process. A text with no words gets a fixed unit vector. ``calls`` counts embed calls and
    ``texts`` every text embedded (for tests of batching and of what was embedded)."""

    def __init__(self, dimensions: int = 256, *, model: str = "deterministic-test") -> None:
        if isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 2:
            raise ValueError(f"dimensions: expected an int >= 2, got {dimensions!r}")
        self.model = model
        self.dimensions = dimensions
        self.calls = 0
        self.texts: list[str] = []

    def vector(self, text: str) -> list[float]:
        words = [w for w in _WORD.findall(text.lower()) if w not in _STOP]
        features = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
        vec = [0.0] * self.dimensions
        for feature in features or ["\x00empty"]:
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            index = int.from_bytes(digest[:4], "little") % self.dimensions
            weight = 1.0 if " " not in feature else 0.5
            vec[index] += weight if digest[4] & 1 else -weight
        norm = math.sqrt(sum(x * x for x in vec))
        if norm == 0.0:  # features cancelled out: any fixed direction
            vec[0], norm = 1.0, 1.0
        return [x / norm for x in vec]

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        self.texts.extend(texts)
        return [self.vector(t) for t in texts]

    def __repr__(self) -> str:
        return f"DeterministicTestEmbedder(dimensions={self.dimensions}, model={self.model!r})"
