"""agent-storage DynamoDB backend: ``dynamodb://TABLE?region=...&endpoint_url=...``.

Single-table design on aiobotocore; see the README for the key design and
:mod:`agent_storage_dynamodb.spec` for the table definition
(``python -m agent_storage_dynamodb.spec TABLE`` prints it).
"""

from typing import Any

__all__ = ["cloudformation", "table_spec"]


def __getattr__(name: str) -> Any:  # lazy: `python -m ...spec` must not pre-import spec
    if name in __all__:
        from . import spec

        return getattr(spec, name)
    raise AttributeError(name)
