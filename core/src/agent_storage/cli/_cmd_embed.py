"""``agent-storage embed URL``: embed the messages saved before the store had an embedder."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

from ..errors import ConfigurationError
from ._common import EXIT_OK, positive_int
from ._output import Output
from ._registry import Command

__all__ = ["COMMAND", "load_embedder"]

#: Short names for the built-in adapters: NAME or NAME:MODEL.
ADAPTERS = {
    "fastembed": "agent_storage.embedders.fastembed:FastEmbedEmbedder",
    "sentence-transformers":
        "agent_storage.embedders.sentence_transformers:SentenceTransformerEmbedder",
    "openai": "agent_storage.embedders.openai:OpenAIEmbedder",
    "test": "agent_storage.embedders:DeterministicTestEmbedder",
}


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("url", metavar="URL")
    p.add_argument("--embedder", required=True, metavar="EMBEDDER",
                   help="the store's embedder (see above); it must match the one recorded")
    p.add_argument("--resource", metavar="ID", help="only this owner's messages")
    p.add_argument("--batch-size", type=positive_int, default=64, metavar="N",
                   help="texts per embedding call (default 64)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="a progress bar (default: when stderr is a terminal)")


def load_embedder(spec: str) -> Any:
    """The Embedder named by ``spec`` (see the command's description)."""
    name, _, arg = spec.partition(":")
    if name in ADAPTERS:
        module_name, _, attr = ADAPTERS[name].partition(":")
        factory = getattr(importlib.import_module(module_name), attr)
        if not arg:
            return factory()
        return factory(int(arg)) if name == "test" else factory(arg)
    if not arg:
        raise ConfigurationError(f"--embedder: expected module:attribute or one of "
                                 f"{sorted(ADAPTERS)}, got {spec!r}")
    try:
        target = getattr(importlib.import_module(name), arg)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"--embedder: cannot load {spec!r}: {exc}") from None
    return target() if callable(target) and not hasattr(target, "embed") else target


async def _run(args: argparse.Namespace, out: Output) -> int:
    from .._cache import open_store

    embedder = load_embedder(args.embedder)
    show = sys.stderr.isatty() if args.progress is None else args.progress
    bar = _bar() if show else None

    def progress(scanned: int, embedded: int) -> None:
        if bar is not None:
            bar.update(scanned - bar.n)
            bar.set_postfix(embedded=embedded)

    storage = open_store(args.url, fresh=True, embedder=embedder)
    try:
        done = await storage.memory.embed_missing(
            resource_id=args.resource, batch_size=args.batch_size, progress=progress)
    finally:
        if bar is not None:
            bar.close()
        await storage.close()
    out.write(f"embedded {done} message(s) with {embedder.model} ({embedder.dimensions} "
              "dimensions)\n")
    return EXIT_OK


def _bar() -> Any:
    try:
        from tqdm import tqdm
    except ImportError:  # the bar is optional: pip install 'agent-storage[progress]'
        return None
    return tqdm(unit="msg", desc="scanned", file=sys.stderr)


COMMAND = Command(
    name="embed", help="embed messages that have no vector yet (resumable)",
    description="Give every message without a vector (or whose text changed since) one, "
    "in batches; run it again to resume. EMBEDDER is module:attribute (an Embedder, or a "
    "class or function returning one) or a built-in adapter: fastembed[:MODEL], "
    "sentence-transformers[:MODEL], openai:MODEL, test[:DIMENSIONS].",
    arguments=_arguments, run=_run,
)
