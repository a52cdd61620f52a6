"""Make telemetry values storable: JSON by the store's rules, ids within the id limits.

Telemetry must never be refused for one odd attribute, so values are coerced, not
rejected: NUL and lone surrogates become U+FFFD, non-finite floats and integers beyond
64 bits become strings, unknown objects their ``str``, tuples lists, and nesting deeper
than the store's limit is cut to a string.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..serde import MAX_ID_LENGTH, MAX_JSON_DEPTH

__all__ = ["clean_text", "jsonable", "opt_id", "to_id"]

_INT64 = (-(2**63), 2**63 - 1)


def clean_text(text: str) -> str:
    """``text`` without NUL or lone surrogates (each replaced by U+FFFD)."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


def jsonable(value: Any, depth: int = 1) -> Any:
    """A JSON value the store accepts, as close to ``value`` as the rules allow."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if _INT64[0] <= value <= _INT64[1] else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return clean_text(value)
    if depth >= MAX_JSON_DEPTH:
        return clean_text(str(value))
    if isinstance(value, Mapping):
        return {clean_text(str(k)): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v, depth + 1) for v in value]
    if isinstance(value, bytes):
        return clean_text(value.decode("utf-8", "replace"))
    return clean_text(str(value))


def to_id(value: Any, default: str) -> str:
    """A valid id from ``value`` (cleaned, cut to the id limit), or ``default``."""
    text = clean_text(str(value))[:MAX_ID_LENGTH] if value is not None else ""
    return text or default


def opt_id(value: Any) -> str | None:
    """A valid id from a string ``value``, else None."""
    if not isinstance(value, str) or not value:
        return None
    return clean_text(value)[:MAX_ID_LENGTH]
