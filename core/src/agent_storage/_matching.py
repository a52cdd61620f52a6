"""Metadata filters as every backend must evaluate them (the rules of the SQL backends)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["json_eq", "metadata_matches"]


def json_eq(a: Any, b: Any) -> bool:
    """Equality of two JSON scalars as a database compares them.

    ``true`` is not ``1`` (a bool equals only a bool), ``1`` equals ``1.0``, and values of
    different JSON types are never equal (``"1"`` is not ``1``).
    """
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def metadata_matches(metadata: Mapping[str, Any], wanted: Mapping[str, Any] | None) -> bool:
    """Whether ``metadata`` matches a filter: every top-level key of ``wanted`` is present
    and :func:`json_eq` to its value. A missing key never matches (not even ``None``);
    an empty or None filter matches everything."""
    if not wanted:
        return True
    for key, value in wanted.items():
        if key not in metadata or not json_eq(metadata[key], value):
            return False
    return True
