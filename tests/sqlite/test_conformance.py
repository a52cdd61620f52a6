"""Every conformance suite (all domains, lifecycle, indexes) against SQLite files."""

from agent_storage.testing import suite_classes

globals().update(suite_classes())
