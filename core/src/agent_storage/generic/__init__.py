"""The generic record-store contract: implement three primitives, get all five domains.

A :class:`RecordBackend` stores JSON objects by (collection, key) with core-computed order
keys, answers ordered range scans and applies conditional multi-record writes atomically;
core builds the memory, workflows, scores, observability and agents domains on top (TTL,
metadata filters, merges, agent versions, step-result checks, save order, retention).
Backend authors import these names from :mod:`agent_storage.spi`.
"""

from ._contract import COLLECTIONS, Delete, Item, Put, RecordBackend
from ._keys import TOP

__all__ = ["COLLECTIONS", "TOP", "Delete", "Item", "Put", "RecordBackend"]
