"""SQLAlchemy Core tables, built per (table_prefix, schema), for PostgreSQL and SQLite.

Column types differ per dialect; values are converted by a :class:`Codec` in the domain
code (not by TypeDecorators), so each value is converted exactly once:

* JSON: ``JSONB`` on PostgreSQL (Python values go in, SQLAlchemy serialises them); ``TEXT``
  on SQLite holding :func:`agent_storage.serde.dumps` output, queried with ``json_extract``.
* Timestamps: ``TIMESTAMP WITH TIME ZONE`` on PostgreSQL; on SQLite fixed-width ISO 8601
  text ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00`` (always 32 characters, always UTC), so text
  order is time order, indexes work on it, microseconds round-trip exactly, and the file
  stays readable with the ``sqlite3`` shell.
* Messages carry ``seq``, an integer primary key assigned on insert (SQLite rowid alias,
  PostgreSQL identity): the save order that breaks ``created_at`` ties. An upsert keeps the
  row's ``seq``.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeEngine

from .. import serde
from ..naming import LOGICAL_TABLES, table_name

__all__ = ["Codec", "Tables", "json_text", "native_codec", "native_from_ts", "text_codec",
           "ts_text"]

UTC = _dt.UTC


def _ts() -> TypeEngine[Any]:
    return DateTime(timezone=True).with_variant(String(32), "sqlite")


def _json() -> TypeEngine[Any]:
    return JSONB().with_variant(Text(), "sqlite")


def _seq() -> TypeEngine[Any]:
    # INTEGER PRIMARY KEY is SQLite's rowid alias (BIGINT would not be).
    return BigInteger().with_variant(Integer(), "sqlite")


class Tables:
    """Every table of one store; ``by_logical`` maps logical names (threads, ...) to tables."""

    def __init__(self, table_prefix: str, schema: str | None = None) -> None:
        """Declare every table. Long by design: the whole schema is read in one place (one
        ``Table(...)`` per logical table, columns and constraints side by side); splitting
        it per table would only scatter the declarations."""
        self.prefix = table_prefix
        self.schema = schema
        self.metadata = md = MetaData(schema=schema)

        def name(logical: str) -> str:
            return table_name(table_prefix, logical)

        def fk(table: str, column: str) -> str:
            target = name(table)
            return f"{schema}.{target}.{column}" if schema else f"{target}.{column}"

        self.threads = Table(
            name("threads"), md,
            Column("id", Text, primary_key=True),
            Column("resource_id", Text, nullable=False),
            Column("title", Text),
            Column("metadata", _json(), nullable=False),
            Column("agent_id", Text),
            Column("created_at", _ts(), nullable=False),
            Column("updated_at", _ts(), nullable=False),
        )
        self.messages = Table(
            name("messages"), md,
            Column("seq", _seq(), Identity(), primary_key=True),
            Column("id", Text, nullable=False, unique=True),
            Column("thread_id", Text, ForeignKey(fk("threads", "id"), ondelete="CASCADE"),
                   nullable=False),
            Column("resource_id", Text),
            Column("role", Text, nullable=False),
            Column("type", Text, nullable=False),
            Column("content", _json(), nullable=False),
            Column("metadata", _json(), nullable=False),
            Column("created_at", _ts(), nullable=False),
        )
        self.resources = Table(
            name("resources"), md,
            Column("id", Text, primary_key=True),
            Column("working_memory", Text),
            Column("metadata", _json(), nullable=False),
            Column("created_at", _ts(), nullable=False),
            Column("updated_at", _ts(), nullable=False),
        )
        self.workflow_runs = Table(
            name("workflow_runs"), md,
            Column("workflow_name", Text, nullable=False),
            Column("run_id", Text, nullable=False),
            Column("resource_id", Text),
            Column("status", Text),
            Column("snapshot", _json(), nullable=False),
            Column("created_at", _ts(), nullable=False),
            Column("updated_at", _ts(), nullable=False),
            # run_id first: get_run(run_id) without a workflow name is a key lookup too.
            PrimaryKeyConstraint("run_id", "workflow_name"),
        )
        self.scores = Table(
            name("scores"), md,
            Column("id", Text, primary_key=True),
            Column("scorer_id", Text, nullable=False),
            Column("run_id", Text, nullable=False),
            Column("score", Float, nullable=False),
            Column("reason", Text),
            Column("source", Text, nullable=False),
            Column("entity_type", Text),
            Column("entity_id", Text),
            Column("trace_id", Text),
            Column("span_id", Text),
            Column("resource_id", Text),
            Column("thread_id", Text),
            Column("input", _json(), nullable=False),
            Column("output", _json(), nullable=False),
            Column("metadata", _json(), nullable=False),
            Column("created_at", _ts(), nullable=False),
        )
        self.spans = Table(
            name("spans"), md,
            Column("trace_id", Text, nullable=False),
            Column("span_id", Text, nullable=False),
            Column("parent_span_id", Text),
            Column("name", Text, nullable=False),
            Column("span_type", Text, nullable=False),
            Column("started_at", _ts(), nullable=False),
            Column("ended_at", _ts()),
            Column("is_event", Boolean, nullable=False),
            Column("status", Text),
            Column("attributes", _json(), nullable=False),
            Column("metadata", _json(), nullable=False),
            Column("input", _json(), nullable=False),
            Column("output", _json(), nullable=False),
            Column("error", _json(), nullable=False),
            Column("entity_type", Text),
            Column("entity_id", Text),
            Column("agent_id", Text),
            Column("resource_id", Text),
            Column("thread_id", Text),
            Column("run_id", Text),
            Column("created_at", _ts(), nullable=False),
            Column("updated_at", _ts(), nullable=False),
            PrimaryKeyConstraint("trace_id", "span_id"),
        )
        # The active version of each agent, denormalised for get/list.
        self.agents = Table(
            name("agents"), md,
            Column("id", Text, primary_key=True),
            Column("name", Text, nullable=False),
            Column("instructions", Text),
            Column("model", _json(), nullable=False),
            Column("tools", _json(), nullable=False),
            Column("metadata", _json(), nullable=False),
            Column("status", Text, nullable=False),
            Column("version", Integer, nullable=False),
            Column("created_at", _ts(), nullable=False),
            Column("updated_at", _ts(), nullable=False),
        )
        self.agent_versions = Table(
            name("agent_versions"), md,
            Column("agent_id", Text, ForeignKey(fk("agents", "id"), ondelete="CASCADE"),
                   nullable=False),
            Column("version", Integer, nullable=False),
            Column("config", _json(), nullable=False),
            Column("change_message", Text),
            Column("created_at", _ts(), nullable=False),
            PrimaryKeyConstraint("agent_id", "version"),
        )
        self.migrations = Table(
            name("migrations"), md,
            Column("version", Integer, primary_key=True, autoincrement=False),
            Column("name", Text, nullable=False),
            Column("checksum", Text, nullable=False),
            Column("applied_at", _ts(), nullable=False),
        )
        self.by_logical: dict[str, Table] = {
            logical: getattr(self, logical) for logical in LOGICAL_TABLES
        }
        self.logical_by_name = {t.name: logical for logical, t in self.by_logical.items()}

    @property
    def data_tables(self) -> list[Table]:
        """Every data table, parents before children (create order)."""
        return list(self.by_logical.values())


class Codec:
    """Python value <-> column value, per dialect (see module docstring)."""

    def __init__(
        self,
        *,
        ts: Callable[[_dt.datetime], Any],
        from_ts: Callable[[Any], _dt.datetime],
        json: Callable[[Any], Any],
        from_json: Callable[[Any], Any],
    ) -> None:
        self.ts = ts
        self.from_ts = from_ts
        self.json = json
        self.from_json = from_json

    def opt_ts(self, value: _dt.datetime | None) -> Any:
        return None if value is None else self.ts(value)

    def opt_from_ts(self, value: Any) -> _dt.datetime | None:
        return None if value is None else self.from_ts(value)


def ts_text(value: _dt.datetime) -> str:
    """Fixed-width UTC ISO text: records hold aware UTC datetimes (serde.to_utc)."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    text = value.isoformat()  # 20% cheaper than passing timespec="microseconds"
    return text if value.microsecond else f"{text[:19]}.000000{text[19:]}"


_fromiso = _dt.datetime.fromisoformat


def native_from_ts(value: _dt.datetime) -> _dt.datetime:
    """An aware datetime from a driver's timestamp-with-time-zone value, in UTC.

    asyncpg sends ``datetime.min``/``datetime.max`` as ``-infinity``/``infinity`` and
    returns those as *naive* ``datetime.min``/``max``: they mean UTC (``astimezone``
    would read them as local time and overflow)."""
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _identity(value: Any) -> Any:
    return value


_decoder = json.JSONDecoder()
_decode = _decoder.decode  # what json.loads(str) does, without its checks
_scan = _decoder.scan_once  # type: ignore[attr-defined]  # decode runs it after whitespace


def json_text(text: str) -> Any:
    """Decode a JSON column; ``{}`` (most metadata) without running the decoder.

    Columns hold compact JSON (serde.dumps): the scanner alone reads it, without decode's
    two whitespace matches (870 ns instead of 1.5 us for a W1 message). Anything else
    (leading or trailing text, invalid JSON) goes to decode, which reads or refuses it."""
    if text == "{}":
        return {}
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        return _decode(text)
    return value if end == len(text) else _decode(text)


def native_codec() -> Codec:
    """Values as the driver takes them: aware datetimes for TIMESTAMP WITH TIME ZONE,
    Python JSON values for JSON/JSONB (PostgreSQL; the default of SqlBackend.create_codec)."""
    return Codec(ts=_identity, from_ts=native_from_ts, json=_identity, from_json=_identity)


def text_codec() -> Codec:
    """Timestamps as fixed-width UTC ISO text and JSON as compact text (SQLite)."""
    return Codec(ts=ts_text, from_ts=_fromiso, json=serde.dumps, from_json=json_text)
