"""The agent-storage plugin: registers the ``dynamodb`` scheme (imported lazily)."""

from __future__ import annotations

from typing import Any

from agent_storage.hookspecs import hookimpl

__all__ = ["register_backends"]


@hookimpl
def register_backends(register: Any) -> None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        found: str | None = version("agent-storage-dynamodb")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        found = None
    register("dynamodb", "agent_storage_dynamodb.store:DynamoBackend", schemes=("dynamodb",),
             version=found)
