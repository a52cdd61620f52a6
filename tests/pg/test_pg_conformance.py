"""The whole conformance kit against PostgreSQL: every store in a schema of its own."""

from agent_storage.testing import suite_classes

globals().update(suite_classes())
