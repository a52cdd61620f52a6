"""Any OpenAI-compatible ``/embeddings`` endpoint as an Embedder, through the ``openai``
client: ``pip install 'agent-storage[openai]'``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["OpenAIEmbedder"]

#: Sizes of OpenAI's models (other endpoints: pass ``dimensions``).
KNOWN_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072,
                    "text-embedding-ada-002": 1536}


class OpenAIEmbedder:
    """Embeddings from ``client.embeddings.create`` (an ``openai.AsyncOpenAI``; built from
    ``base_url``/``api_key``/the environment when not given). ``dimensions`` is required
    for models not in :data:`KNOWN_DIMENSIONS`; for the text-embedding-3 models a smaller
    value is passed to the API (shortened embeddings)."""

    def __init__(self, model: str = "text-embedding-3-small", *, dimensions: int | None = None,
                 client: Any = None, base_url: str | None = None, api_key: str | None = None,
                 ) -> None:
        if client is None:
            try:
                from openai import AsyncOpenAI
            except ImportError as exc:  # pragma: no cover - depends on the extra
                raise ImportError("OpenAIEmbedder needs openai: "
                                  "pip install 'agent-storage[openai]'") from exc
            client = AsyncOpenAI(base_url=base_url, api_key=api_key)
        size = dimensions or KNOWN_DIMENSIONS.get(model)
        if size is None:
            raise ValueError(f"dimensions: required for model {model!r}")
        self._client = client
        self._shorten = dimensions is not None and model.startswith("text-embedding-3")
        self.model = model
        self.dimensions = size

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        extra = {"dimensions": self.dimensions} if self._shorten else {}
        resp = await self._client.embeddings.create(model=self.model, input=list(texts),
                                                    **extra)
        return [list(d.embedding) for d in sorted(resp.data, key=lambda d: d.index)]
