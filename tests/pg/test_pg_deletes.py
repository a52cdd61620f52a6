"""Deletes count what they deleted themselves (the kit case, pending for every backend)."""

from agent_storage.testing.suites.pending_deletes import TestConcurrentDeletes

__all__ = ["TestConcurrentDeletes"]
