"""Keys and order keys: tuples encoded as text that sorts like the tuples.

Each component is text (ids, titles, ISO timestamps, zero-padded numbers) with ``\\x01``
escaped as ``\\x01\\x02`` and ended by ``\\x01\\x01``. Text never holds ``\\x00`` (serde
refuses it), so the encoding has no ``\\x00`` either and fits any text column; comparing two
encodings by code point (binary collation, UTF-8 byte order) compares the tuples. No
encoding is a proper prefix of another of the same arity.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import threading
import time

from ..serde import format_datetime

__all__ = ["TOP", "after", "enc", "next_stamp", "num", "prefix_range", "ts"]

_END = "\x01\x01"

#: Above every key (keys are encoded tuples of text that never starts with U+10FFFF x4).
TOP = "\U0010ffff" * 4


def enc(*parts: str) -> str:
    """The order-preserving text of the tuple ``parts``."""
    return "".join(p.replace("\x01", "\x01\x02") + _END for p in parts)


def ts(value: _dt.datetime) -> str:
    """A UTC datetime as fixed-width text (sorts chronologically)."""
    return format_datetime(value)


def num(value: int) -> str:
    """A non-negative int as fixed-width text (sorts numerically)."""
    return f"{value:020d}"


def after(key: str) -> str:
    """The least text above ``key`` and every key that ``key`` is a prefix of."""
    return key[:-1] + "\x02"


def prefix_range(prefix: str) -> tuple[str, str]:
    """``(start, stop)`` covering exactly the keys that begin with the tuple ``prefix``."""
    return (prefix, after(prefix)) if prefix else ("", TOP)


_lock = threading.Lock()
_last = 0
_tie = itertools.count()


def next_stamp() -> int:
    """A number above every earlier one in this process, near the clock in nanoseconds:
    message save order and record versions (unique across processes in practice)."""
    global _last
    with _lock:
        _last = max(_last + 1, time.time_ns())
        return _last
