"""SQL layer shared by the SQLite and PostgreSQL backends (SQLAlchemy Core, asyncio).

Importing this package imports SQLAlchemy; core never imports it at ``import agent_storage``.
See :mod:`agent_storage.sql.base` for the backend base class and its hooks.
"""

from .base import DEFAULT_INDEXES, SqlBackend, default_index_specs, sql_log
from .tables import Codec, Tables, native_codec, text_codec

__all__ = [
    "DEFAULT_INDEXES",
    "Codec",
    "SqlBackend",
    "Tables",
    "default_index_specs",
    "native_codec",
    "sql_log",
    "text_codec",
]
