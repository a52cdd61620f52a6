"""sentence-transformers as an Embedder: ``pip install 'agent-storage[sentence-transformers]'``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

__all__ = ["SentenceTransformerEmbedder"]


class SentenceTransformerEmbedder:
    """A ``SentenceTransformer`` (default ``all-MiniLM-L6-v2``, 384 dimensions), or a
    model object you already loaded (``model=``). ``embed`` runs it in a worker thread.
    ``model_name`` may be a local directory (offline use)."""

    def __init__(self, model_name: str = "all-MiniLM-L6-v2", *, model: Any = None,
                 name: str | None = None, **kwargs: Any) -> None:
        if model is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:  # pragma: no cover - depends on the extra
                raise ImportError("SentenceTransformerEmbedder needs sentence-transformers: "
                                  "pip install 'agent-storage[sentence-transformers]'") from exc
            model = SentenceTransformer(model_name, **kwargs)
        self._model = model
        self.model = name or model_name
        self.dimensions = int(model.get_sentence_embedding_dimension())

    def _run(self, texts: list[str]) -> list[list[float]]:
        vectors = self._model.encode(texts, normalize_embeddings=True)
        return [[float(x) for x in v] for v in vectors]

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return await asyncio.to_thread(self._run, list(texts))
