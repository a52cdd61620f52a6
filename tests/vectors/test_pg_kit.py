"""The kit's semantic-recall suites on PostgreSQL: with pgvector's HNSW index, and with
``exact_search=True`` (float32 bytea, exact search in Python)."""

from __future__ import annotations

import pytest
from agent_storage.testing.suites.test_vectors import (
    TestEmbedderRecord,
    TestRecall,
    TestVectorSearch,
    TestVectorsFollowMessages,
)

__all__ = ["TestEmbedderRecord", "TestRecall", "TestVectorSearch", "TestVectorsFollowMessages"]


@pytest.fixture(params=["hnsw", "exact"])
def vector_mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)
