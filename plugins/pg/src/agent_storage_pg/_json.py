"""JSON text for JSONB columns that reads back with the same Python types.

JSONB keeps numbers as ``numeric``, which keeps the digits it is given: ``1e+16`` (how
Python writes a float from 1e16 up) is stored as the integer ``10000000000000000`` and
would read back as an ``int``. Written positionally with a fraction (``10000000000000000.0``)
it reads back as the same float. Only floats with a positive exponent need this, and only
texts containing ``e+`` are scanned, so the common case costs one substring test.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from agent_storage import serde

__all__ = ["decode_column", "dumps", "loads"]

# A JSON string (skipped as a whole) or a number with a positive exponent.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|(-?\d+(?:\.\d+)?[eE]\+\d+)')


def _positional(match: re.Match[str]) -> str:
    number = match.group(1)
    if number is None:
        return match.group(0)
    text = format(Decimal(number), "f")
    return text if "." in text else text + ".0"


def dumps(value: Any) -> str:
    text = serde.dumps(value)
    if "e+" not in text and "E+" not in text:
        return text
    return _TOKEN.sub(_positional, text)


loads = serde.loads


_decoder = json.JSONDecoder()
_decode = _decoder.decode
# what JSONDecoder.raw_decode calls: the C scanner (an instance attribute typeshed omits)
_scan: Callable[[str, int], tuple[Any, int]] = vars(_decoder)["scan_once"]


def decode_column(text: str) -> Any:
    """A json/jsonb value as PostgreSQL sends it in text format (the asyncpg codec).

    The server's output is one JSON document without surrounding whitespace, so the C
    scanner is called directly (``json.loads`` adds three Python-level calls and a regex
    per value: 20 us of a 40-value last-20 recall); ``{}``, most metadata, skips even that.
    Anything unexpected goes through the full decoder, which raises the usual error.
    """
    if text == "{}":
        return {}
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        return _decode(text)
    return value if end == len(text) else _decode(text)
