"""Which text of a message is embedded (the default of the ``embed_text`` hook)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from ..records import Message

__all__ = ["digest", "message_text"]

_TEXT_KEYS = ("text", "content", "parts")


def message_text(message: Message) -> str | None:
    """The text to embed for ``message``: string content as it is; for structured content,
    its text parts (``{"type": "text", "text": ...}`` items, ``text``/``content``/``parts``
    keys, nested lists) joined by newlines. None (not embedded) when there is no text.
    A store opened with ``embed_text=fn`` calls ``fn(message)`` instead."""
    parts: list[str] = []
    _collect(message.content, parts, 0)
    text = "\n".join(p for p in parts if p.strip())
    return text or None


def _collect(value: Any, out: list[str], depth: int) -> None:
    if depth > 8:
        return
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect(item, out, depth + 1)
    elif isinstance(value, Mapping):
        kind = value.get("type")
        if kind is not None and kind != "text" and "text" not in value:
            return  # an image, a tool call...: no text to embed
        for key in _TEXT_KEYS:
            if key in value:
                _collect(value[key], out, depth + 1)


def digest(text: str) -> str:
    """A short fingerprint of embedded text: a vector whose digest no longer matches its
    message's text is stale (``embed_missing`` re-embeds it)."""
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
