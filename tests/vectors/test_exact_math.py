"""Exact search: numpy and pure Python give the same ranking and scores."""

from __future__ import annotations

import random

import pytest
from agent_storage.vectors import _math
from agent_storage.vectors._math import check_vector, pack, top_scores


def _vectors(n: int, dims: int, seed: int) -> list[tuple[float, ...]]:
    rng = random.Random(seed)
    return [check_vector([rng.uniform(-1, 1) for _ in range(dims)], dims) for _ in range(n)]


@pytest.mark.parametrize("seed", range(5))
def test_numpy_and_pure_python_agree(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("numpy")  # the vectors env installs it
    vectors = _vectors(400, 64, seed)
    vectors += vectors[:5]  # exact ties
    query = vectors[3]
    blobs = [pack(v) for v in vectors]
    with_numpy = top_scores(query, blobs, 20, None, key=lambda i: -i)
    monkeypatch.setattr(_math, "_numpy", lambda: None)
    pure = top_scores(query, blobs, 20, None, key=lambda i: -i)
    assert with_numpy == pure
    assert with_numpy[0] == (len(vectors) - 5 + 3, 1.0)  # the later copy of the tie first


def test_min_score_and_top_k() -> None:
    vectors = _vectors(50, 16, 9)
    blobs = [pack(v) for v in vectors]
    got = top_scores(vectors[0], blobs, 50, 0.2)
    assert got and all(s >= 0.2 for _, s in got)
    assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)
    assert len(top_scores(vectors[0], blobs, 3, None)) == 3
