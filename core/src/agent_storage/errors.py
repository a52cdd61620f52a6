"""Exceptions raised by agent-storage.

Every error the library raises derives from :class:`AgentStorageError`; a driver error
(SQLAlchemy, asyncpg, sqlite3, botocore) never escapes unwrapped: it is re-raised as a
:class:`BackendError` (or a more precise subclass) with the original kept as
``__cause__``.

Hierarchy::

    AgentStorageError
    ├── ConfigurationError            bad URL, option or identifier (raised by open_store)
    │   ├── InvalidURLError
    │   ├── UnknownBackendError       scheme not provided by any installed plugin
    │   ├── DuplicateSchemeError      two plugins claim one scheme
    │   └── InvalidIdentifierError    table prefix, schema or index name
    ├── ValidationError (also ValueError)   bad argument to a domain call, nothing written
    │   ├── InvalidIndexSpecError
    │   ├── NotJSONError (also TypeError)  a value that must be JSON is not
    │   └── RecordTooLargeError       e.g. a DynamoDB item over 400 KB
    ├── NotFoundError (also LookupError)
    │   ├── ThreadNotFoundError
    │   ├── RunNotFoundError
    │   ├── AgentNotFoundError
    │   ├── IndexNotFoundError
    │   └── BackupNotFoundError
    ├── DomainNotAvailableError       domain disabled in this Storage
    ├── NotSupportedError             the backend does not offer this feature
    ├── SchemaNotInitializedError     disable_init=True and the schema is missing
    ├── MigrationError
    └── BackendError                  wrapped driver error (``__cause__`` is the original)
        ├── TransientBackendError     safe to retry: lost connection, throttling, lock timeout
        └── StorageClosedError        the store was closed
"""

from __future__ import annotations

__all__ = [
    "AgentNotFoundError",
    "AgentStorageError",
    "BackendError",
    "BackupNotFoundError",
    "ConfigurationError",
    "DomainNotAvailableError",
    "DuplicateSchemeError",
    "IndexNotFoundError",
    "InvalidIdentifierError",
    "InvalidIndexSpecError",
    "InvalidURLError",
    "MigrationError",
    "NotFoundError",
    "NotJSONError",
    "NotSupportedError",
    "RecordTooLargeError",
    "RunNotFoundError",
    "SchemaNotInitializedError",
    "StorageClosedError",
    "ThreadNotFoundError",
    "TransientBackendError",
    "UnknownBackendError",
    "ValidationError",
]


class AgentStorageError(Exception):
    """Root of every error raised by agent-storage."""


class ConfigurationError(AgentStorageError, ValueError):
    """A URL, option or identifier is invalid; raised before any connection is made."""


class InvalidURLError(ConfigurationError):
    """The store URL cannot be parsed."""


class UnknownBackendError(ConfigurationError):
    """No installed plugin provides the URL's scheme."""


class DuplicateSchemeError(ConfigurationError):
    """Two plugins register the same scheme; the message names both."""


class InvalidIdentifierError(ConfigurationError):
    """A schema, table prefix or index name is not a safe SQL identifier."""


class ValidationError(AgentStorageError, ValueError):
    """An argument of a domain call is invalid; nothing was written."""


class NotJSONError(ValidationError, TypeError):
    """A value that must be JSON (message content, an adapter's item) is not; nothing was
    written. Also a :class:`TypeError`, which is what ``json.dumps`` and the frameworks'
    own sessions raise for such a value, so ``except TypeError`` keeps working."""


class InvalidIndexSpecError(ValidationError):
    """An IndexSpec failed to parse or validate; no part of it reached SQL."""


class RecordTooLargeError(ValidationError):
    """A record exceeds a backend's size limit (e.g. DynamoDB's 400 KB item limit)."""


class NotFoundError(AgentStorageError, LookupError):
    """A record the call needs does not exist."""


class ThreadNotFoundError(NotFoundError):
    """The thread does not exist (or is not owned by the given resource)."""


class RunNotFoundError(NotFoundError):
    """The workflow run does not exist."""


class AgentNotFoundError(NotFoundError):
    """The stored agent (or the requested version) does not exist."""


class IndexNotFoundError(NotFoundError):
    """The named index does not exist."""


class BackupNotFoundError(NotFoundError):
    """No migration backup exists for the requested version."""


class DomainNotAvailableError(AgentStorageError):
    """The domain is disabled in this Storage (configured as ``False``)."""


class NotSupportedError(AgentStorageError):
    """The backend does not support this feature."""


class SchemaNotInitializedError(AgentStorageError):
    """``disable_init=True`` and the schema is missing: run ``agent-storage init URL``."""


class MigrationError(AgentStorageError):
    """A migration failed; it was rolled back and data is as it was."""


class BackendError(AgentStorageError):
    """A driver error, wrapped; the original exception is ``__cause__``."""


class TransientBackendError(BackendError):
    """A failure that is safe to retry (lost connection, throttling, lock timeout)."""


class StorageClosedError(BackendError):
    """The store was closed; open a new one (``open_store`` does so transparently)."""
