"""Every conformance suite (all domains, lifecycle, indexes) against DynamoDB (moto server)."""

from agent_storage.testing import suite_classes

globals().update(suite_classes())
