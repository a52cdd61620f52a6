"""Expressions and attribute values.

Nothing from a caller is ever pasted into an expression: every attribute name goes
through ``ExpressionAttributeNames`` (``#n0``...) and every value through
``ExpressionAttributeValues`` (``:v0``...). Item sizes are computed here so an item over
DynamoDB's 400 KB limit is refused before it is sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from agent_storage.errors import RecordTooLargeError

__all__ = ["MAX_ITEM_BYTES", "Expr", "N", "Projection", "S", "check_item_size", "item_size"]

#: DynamoDB's item size limit (attribute names and values, UTF-8).
MAX_ITEM_BYTES: Final = 400 * 1024

AV = dict[str, Any]
Item = dict[str, AV]


def S(value: str) -> AV:
    return {"S": value}


def N(value: int | float) -> AV:
    return {"N": str(value)}


class Expr:
    """Collects placeholders for one request's expressions."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, AV] = {}
        self._by_name: dict[str, str] = {}

    def n(self, attr: str) -> str:
        """Placeholder for an attribute name (or a map key)."""
        found = self._by_name.get(attr)
        if found is None:
            found = f"#n{len(self.names)}"
            self.names[found] = attr
            self._by_name[attr] = found
        return found

    def v(self, value: AV) -> str:
        """Placeholder for an attribute value (already an AttributeValue)."""
        key = f":v{len(self.values)}"
        self.values[key] = value
        return key

    def s(self, value: str) -> str:
        return self.v(S(value))

    def num(self, value: int | float) -> str:
        return self.v(N(value))

    def in_list(self, attr: str, values: Iterable[str]) -> str:
        return f"{self.n(attr)} IN ({', '.join(self.s(v) for v in values)})"

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.names:
            out["ExpressionAttributeNames"] = dict(self.names)
        if self.values:
            out["ExpressionAttributeValues"] = dict(self.values)
        return out


class Projection:
    """A ProjectionExpression over fixed top-level attributes, built once.

    Its placeholders (``#p0``...) cannot collide with :class:`Expr`'s (``#n0``...), so
    :meth:`.client.Table.query` adds them to data requests only (a ``Select=COUNT``
    request must not carry names its expressions do not use). Returning only what the
    record needs keeps responses small: the index keys and counters stored on every item
    are never sent back on the read paths.
    """

    def __init__(self, *attrs: str) -> None:
        self.attrs = attrs
        self.names = {f"#p{n}": attr for n, attr in enumerate(attrs)}
        self.expression = ", ".join(self.names)


def and_all(parts: Iterable[str | None]) -> str | None:
    items = [f"({p})" for p in parts if p]
    return " AND ".join(items) if items else None


def _value_size(value: Mapping[str, Any]) -> int:
    (kind, data), = value.items()
    if kind == "S":
        return len(data.encode("utf-8", "surrogatepass"))
    if kind == "N":
        digits = len(data.lstrip("-").replace(".", "").lstrip("0")) or 1
        return (digits + 1) // 2 + 1
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(v) + 1 for k, v in data.items())
    if kind == "L":
        return 3 + sum(_value_size(v) + 1 for v in data)
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: v}) for v in data)
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """DynamoDB's size of an item: attribute names plus values (UTF-8 bytes)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def check_item_size(item: Mapping[str, Mapping[str, Any]], what: str) -> int:
    size = item_size(item)
    if size > MAX_ITEM_BYTES:
        raise RecordTooLargeError(
            f"{what} is {size} bytes stored, over DynamoDB's 400 KB ({MAX_ITEM_BYTES} bytes) "
            "item limit; "
            "store large payloads elsewhere (e.g. S3) and keep a reference"
        )
    return size
