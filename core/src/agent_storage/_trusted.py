"""Records from stored data, without re-validating what the store already validated on write.

Every record is validated when the caller builds it, before it is written; reading it back
through the attrs validators again (walking every JSON value) costs more than the query.
:func:`trusted` builds a frozen record from trusted column values by setting its slots.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

T = TypeVar("T")

__all__ = ["trusted"]

_new = object.__new__
_set = object.__setattr__


def trusted(cls: type[T]) -> Callable[..., T]:
    """A keyword builder for ``cls`` that skips validators; every field must be given."""
    names = tuple(a.name for a in attrs.fields(cls))  # type: ignore[arg-type]
    for name in names:  # generated code below: field names must be plain identifiers
        if not name.isidentifier():
            raise TypeError(f"{cls.__name__}.{name}: not an identifier")
    namespace: dict[str, Any] = {"_new": _new, "_set": _set, "cls": cls}
    # Straight-line code (no loop, no **kwargs dict): this runs once per row read. A slot
    # is set through its descriptor (what object.__setattr__ ends up calling, without
    # the attribute lookup: ~30 ns a field).
    lines = []
    for i, name in enumerate(names):
        slot = inspect.getattr_static(cls, name, None)
        if type(slot) is types.MemberDescriptorType:
            namespace[f"_set{i}"] = slot.__set__  # type: ignore[attr-defined]
            lines.append(f"    _set{i}(obj, {name})")
        else:
            lines.append(f"    _set(obj, {name!r}, {name})")
    body = "\n".join(lines)
    source = (f"def build(*, {', '.join(names)}):\n    obj = _new(cls)\n{body}\n"
              "    return obj\n")
    exec(compile(source, f"<trusted {cls.__name__}>", "exec"), namespace)
    build: Callable[..., T] = namespace["build"]
    build.__name__ = f"trusted_{cls.__name__}"
    return build
