"""JSON text for JSONB columns that reads back with the same Python types.

JSONB keeps numbers as ``numeric``, which keeps the digits it is given: ``1e+16`` (how
Python writes a float from 1e16 up) is stored as the integer ``10000000000000000`` and
would read back as an ``int``. Written positionally with a fraction (``10000000000000000.0``)
it reads back as the same float. Only floats with a positive exponent need this, and only
texts containing ``e+`` are scanned, so the common case costs one substring test.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from agent_storage import serde

__all__ = ["dumps", "loads"]

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

