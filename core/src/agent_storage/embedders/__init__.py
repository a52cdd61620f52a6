"""Embedders: what turns message text into vectors for semantic recall.

An embedder is any object with ``model`` (a name), ``dimensions`` (the vector length) and
``async embed(texts) -> vectors`` (one vector per text, in order): the :class:`Embedder`
protocol. Pass one to ``open_store(url, embedder=...)``.

Adapters for libraries Python users already have, each imported only when built:

* :class:`~agent_storage.embedders.fastembed.FastEmbedEmbedder` (``agent-storage[fastembed]``)
* :class:`~agent_storage.embedders.sentence_transformers.SentenceTransformerEmbedder`
  (``agent-storage[sentence-transformers]``)
* :class:`~agent_storage.embedders.openai.OpenAIEmbedder` (``agent-storage[openai]``): any
  OpenAI-compatible ``/embeddings`` endpoint.

:class:`DeterministicTestEmbedder` is a tiny, dependency-free embedder written for tests
(hashed word features): deterministic across processes and machines, and not a language
model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ._testing import DeterministicTestEmbedder

__all__ = ["DeterministicTestEmbedder", "Embedder"]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors.

    ``model``: a name identifying the model (recorded in the store: opening the same data
    with another model is an error). ``dimensions``: the length of every vector.
    ``embed(texts)``: one vector per text, in order; may be called with up to a batch of
    texts at once. A vector must be finite and not all zeros.
    """

    @property
    def model(self) -> str: ...

    @property
    def dimensions(self) -> int: ...

    async def embed(self, texts: Sequence[str]) -> Sequence[Sequence[float]]: ...
