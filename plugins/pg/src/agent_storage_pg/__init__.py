"""PostgreSQL backend for agent-storage: SQLAlchemy asyncio + asyncpg.

Selected by the URL schemes ``postgresql``, ``postgres`` and ``postgresql+asyncpg``::

    store = open_store("postgresql://user:pw@db:5432/app", schema="tenant_a", pool_size=10)

Importing this package imports no driver; :mod:`agent_storage_pg.store` does.
:func:`json_dumps` is the JSON serializer to give a user-supplied engine
(``create_async_engine(..., json_serializer=agent_storage_pg.json_dumps)``).
"""

from ._json import dumps as json_dumps

__version__ = "0.1.0"

__all__ = ["__version__", "json_dumps"]
