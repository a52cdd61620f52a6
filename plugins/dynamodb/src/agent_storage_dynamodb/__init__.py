"""agent-storage DynamoDB backend: ``dynamodb://TABLE?region=...&endpoint_url=...``.

Single-table design on aiobotocore; see the README for the key design and
:mod:`agent_storage_dynamodb.spec` for the table definition.
"""

from .spec import cloudformation, table_spec

__all__ = ["cloudformation", "table_spec"]
