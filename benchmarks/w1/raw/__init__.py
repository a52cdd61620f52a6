"""Raw-driver baselines for W1: the same phases with hand-written SQL / requests.

Driver modules are imported lazily so a missing driver only matters for its backend.
"""

from __future__ import annotations

from .records import RawMessage, RawThread

__all__ = ["RawMessage", "RawThread"]
