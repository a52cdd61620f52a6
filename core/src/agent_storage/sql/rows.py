"""Records from rows: :func:`trusted` now lives in :mod:`agent_storage.spi` (re-exported
here so existing imports keep working)."""

from .._trusted import trusted

__all__ = ["trusted"]
