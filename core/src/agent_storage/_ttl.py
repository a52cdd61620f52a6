"""Retention.ttl as every backend applies it: which records are expired, and when."""

from __future__ import annotations

import datetime as _dt
from typing import Final

from .options import StoreOptions
from .serde import utcnow

__all__ = ["TTL_CLOCK", "is_expired", "ttl_cutoff"]

#: The field whose age decides expiry, per TTL entity (the keys ``Retention.ttl`` accepts).
#: Mutable records expire by their last update; append-only ones by their creation.
TTL_CLOCK: Final = {
    "threads": "updated_at",
    "messages": "created_at",
    "resources": "updated_at",
    "workflow_runs": "updated_at",
    "scores": "created_at",
    "spans": "created_at",
}


def ttl_cutoff(options: StoreOptions, entity: str) -> _dt.datetime | None:
    """Records of ``entity`` (a :data:`TTL_CLOCK` key) whose clock field is before this
    instant are expired; None when no TTL is configured for it."""
    ttl = options.retention.ttl.get(entity)
    return None if ttl is None else utcnow() - ttl


def is_expired(stamp: _dt.datetime, cutoff: _dt.datetime | None) -> bool:
    """Whether a record stamped ``stamp`` (its :data:`TTL_CLOCK` field) is expired at
    ``cutoff`` (from :func:`ttl_cutoff`). An expired record is invisible to every read and
    treated as missing by every write."""
    return cutoff is not None and stamp < cutoff
