"""fastembed (ONNX, CPU) as an Embedder: ``pip install 'agent-storage[fastembed]'``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

__all__ = ["FastEmbedEmbedder"]


class FastEmbedEmbedder:
    """A fastembed ``TextEmbedding`` model (default ``BAAI/bge-small-en-v1.5``, 384
    dimensions). The model loads (and is downloaded by fastembed, once) when this object
    is built; ``embed`` runs it in a worker thread. Extra keyword arguments go to
    ``TextEmbedding``."""

    def __init__(self, model_name: str = "BAAI/bge-small-en-v1.5", **kwargs: Any) -> None:
        try:
            from fastembed import TextEmbedding
        except ImportError as exc:  # pragma: no cover - depends on the extra
            raise ImportError("FastEmbedEmbedder needs fastembed: "
                              "pip install 'agent-storage[fastembed]'") from exc
        self._model = TextEmbedding(model_name=model_name, **kwargs)
        self.model = model_name
        self.dimensions = len(next(iter(self._model.embed(["dimensions"]))))

    def _run(self, texts: list[str]) -> list[list[float]]:
        return [[float(x) for x in v] for v in self._model.embed(texts)]

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return await asyncio.to_thread(self._run, list(texts))
