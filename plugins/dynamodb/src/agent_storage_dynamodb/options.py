"""``DynamoDBOptions``: the options of the DynamoDB backend (typed, validated at open_store).

Given as keyword arguments of ``open_store`` or URL query parameters
(``dynamodb://table?region=eu-west-1&create_table=true``). Importing this module imports
no driver.
"""

from __future__ import annotations

from typing import Any, Final

from agent_storage.errors import ConfigurationError
from agent_storage.options import (
    StoreOptions,
    bool_text,
    flag,
    identifier_or_none,
    option,
    optional_text,
)
from attrs import frozen

__all__ = ["BATCH_MODES", "DynamoDBOptions"]

#: ``batch_mode``: "atomic" (default) refuses a save_messages/clone that does not fit one
#: transaction; "chunked" writes it as several transactions.
BATCH_MODES: Final = ("atomic", "chunked")


def _batch_mode(_inst: Any, _attr: Any, value: Any) -> None:
    if value not in BATCH_MODES:
        raise ConfigurationError(f"batch_mode: expected one of {BATCH_MODES}, got {value!r}")


@frozen(kw_only=True, repr=False)
class DynamoDBOptions(StoreOptions):
    """The common options plus DynamoDB's."""

    region: str | None = option(default=None, validator=optional_text)
    endpoint_url: str | None = option(default=None, validator=optional_text)
    create_table: bool = option(default=False, validator=flag, url=bool_text)
    ttl_attribute: str = option(default="ttl", validator=identifier_or_none("ttl_attribute"))
    batch_mode: str = option(default="atomic", validator=_batch_mode)
