"""``dynamodb://TABLE?region=...&endpoint_url=...``: the DynamoDB backend.

One table holds every domain (key design: ``keys.py`` and the README). Credentials come
from the standard AWS chain (environment, profile, instance role). ``storage.client`` is
the aiobotocore client, created by ``init()`` (or the first call) and closed by
``close()``; use it for custom calls, e.g. ``await storage.client.describe_table(...)``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any, ClassVar, Final

from agent_storage.backend import Backend, IndexManager
from agent_storage.errors import (
    AgentStorageError,
    ConfigurationError,
    IndexNotFoundError,
    NotSupportedError,
    SchemaNotInitializedError,
)
from agent_storage.options import IndexSpec, StoreOptions
from agent_storage.records import IndexInfo, IndexStats, StoreStatus
from agent_storage.spi import Domain
from agent_storage.url import StoreURL

from .client import Table, _error_code, translate
from .expr import Expr
from .keys import ENTITIES, GSIS, INDEXES, LSI
from .options import DynamoDBOptions
from .spec import table_spec

__all__ = ["DynamoBackend"]

_TABLE_NAME: Final = re.compile(r"[A-Za-z0-9_.-]{3,255}\Z")
#: How long create_table=True waits for the table and its GSIs to become ACTIVE.
ACTIVE_TIMEOUT: Final = 600.0
SPEC_HINT: Final = (
    "create it with create_table=True (open_store(url, create_table=True) or "
    "`agent-storage init URL?create_table=true`), or from the definition printed by "
    "`agent-storage dynamodb-table-spec`"
)


class DynamoBackend(Backend):
    """Every domain on one DynamoDB table (single-table design)."""

    options_class: ClassVar[type[StoreOptions]] = DynamoDBOptions
    options: DynamoDBOptions
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"persistent", "multi_process", "client", "ttl", "vectors"}
    )

    def __init__(self, url: StoreURL, options: StoreOptions) -> None:
        super().__init__(url, options)
        name = url.host or url.database
        if not name or not _TABLE_NAME.match(name):
            raise ConfigurationError(
                f"dynamodb URL needs a table name of 3-255 letters, digits, '_', '-' or '.', "
                f"e.g. dynamodb://agent-table?region=eu-west-1; got {name!r}"
            )
        if options.indexes:
            raise NotSupportedError(
                "indexes: the dynamodb backend cannot create indexes from IndexSpec; its "
                "GSIs are fixed by the key design (see `agent-storage dynamodb-table-spec`)"
            )
        self.batch_mode: str = self.options.batch_mode
        self.table_name = name
        self.table = Table(name, region=self.options.region,
                           endpoint_url=self.options.endpoint_url, debug=options.debug)
        self._domains: dict[str, Domain] = {}
        self._index_manager = DynamoIndexes(self)

    @classmethod
    def option_defaults(cls, url: StoreURL) -> dict[str, Any]:
        return {}

    # -- domains -------------------------------------------------------------------------

    def domain(self, name: str) -> Domain:
        found = self._domains.get(name)
        if found is None:
            found = self._build_domain(name)
            self._domains[name] = found
        return found

    def _build_domain(self, name: str) -> Domain:
        if name == "memory":
            from .vectors import VectorDynamoMemory as DynamoMemory

            return DynamoMemory(self)
        if name == "workflows":
            from .workflows import DynamoWorkflows

            return DynamoWorkflows(self)
        if name == "scores":
            from .scores import DynamoScores

            return DynamoScores(self)
        if name == "observability":
            from .observability import DynamoObservability

            return DynamoObservability(self)
        if name == "agents":
            from .agents import DynamoAgents

            return DynamoAgents(self)
        raise ValueError(f"unknown domain {name!r}")

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The aiobotocore DynamoDB client (after ``init()`` or the first call)."""
        if self.table.client is None:
            raise NotSupportedError(
                "storage.client is created by init(): `await storage.init()` first"
            )
        return self.table.client

    @property
    def indexes(self) -> IndexManager:
        return self._index_manager

    async def init(self) -> None:
        """Open the client, create the table if asked, check its key schema. A failed init
        closes the client it opened (no unclosed aiohttp session); a later call reopens."""
        try:
            await self.table.open()
            if self.options.create_table:
                await self._create_table()
            await self._check_table(await self.describe_table())
        except BaseException as exc:
            await self.table.close()
            if isinstance(exc, AgentStorageError) or not isinstance(exc, Exception):
                raise
            raise translate(exc) from exc

    async def is_initialized(self) -> bool:
        try:
            await self.table.open()
            description = await self.describe_table()
            self._check_indexes(description)
        except SchemaNotInitializedError:
            return False
        except Exception as exc:
            raise translate(exc) from exc
        return True

    async def describe_table(self) -> dict[str, Any]:
        """DescribeTable of the store's table; SchemaNotInitializedError if it is missing."""
        try:
            resp = await self.table.call("describe_table", TableName=self.table_name)
        except Exception as exc:
            if _error_code(exc) == "ResourceNotFoundException":
                raise SchemaNotInitializedError(
                    f"DynamoDB table {self.table_name!r} does not exist; {SPEC_HINT}"
                ) from exc
            raise
        return resp["Table"]  # type: ignore[no-any-return]

    def _check_indexes(self, description: dict[str, Any]) -> None:
        have = {i["IndexName"]: i for i in description.get("GlobalSecondaryIndexes", [])}
        have.update({i["IndexName"]: i for i in description.get("LocalSecondaryIndexes", [])})
        missing = []
        for idx in INDEXES:
            found = have.get(idx.name)
            keys = {k["KeyType"]: k["AttributeName"] for k in (found or {}).get("KeySchema", [])}
            if keys != {"HASH": idx.pk, "RANGE": idx.sk}:
                missing.append(idx.name)
        if missing:
            raise SchemaNotInitializedError(
                f"DynamoDB table {self.table_name!r} lacks the indexes {missing} (or their key "
                f"schema differs); {SPEC_HINT}"
            )

    async def _check_table(self, description: dict[str, Any]) -> None:
        self._check_indexes(description)

    async def _create_table(self) -> None:
        try:
            await self.table.call("create_table", **table_spec(self.table_name))
        except Exception as exc:
            # Another process created it first: conditional create, then wait like it.
            if _error_code(exc) != "ResourceInUseException":
                raise
        await self._wait_active()
        await self._enable_ttl()

    async def _wait_active(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ACTIVE_TIMEOUT
        while True:
            description = await self.describe_table()
            gsis = description.get("GlobalSecondaryIndexes", [])
            statuses = [description.get("TableStatus")] + [
                g.get("IndexStatus", "ACTIVE") for g in gsis]
            if all(s == "ACTIVE" for s in statuses):
                return
            if loop.time() > deadline:
                raise SchemaNotInitializedError(
                    f"DynamoDB table {self.table_name!r} not ACTIVE after {ACTIVE_TIMEOUT:.0f} s: "
                    f"{statuses}"
                )
            await asyncio.sleep(1.0)

    async def _enable_ttl(self) -> None:
        attr = self.options.ttl_attribute
        resp = await self.table.call("describe_time_to_live", TableName=self.table_name)
        desc = resp.get("TimeToLiveDescription", {})
        if desc.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
            return
        try:
            await self.table.call("update_time_to_live", TableName=self.table_name,
                                  TimeToLiveSpecification={"Enabled": True, "AttributeName": attr})
        except Exception as exc:  # a concurrent process enabled it first
            if _error_code(exc) != "ValidationException":
                raise

    async def close(self) -> None:
        await self.table.close()

    def abandon(self) -> None:
        self.table.abandon()

    async def status(self) -> StoreStatus:
        """Row counts per entity, by Select=COUNT Queries on the 'all' partitions; a driver
        error becomes a typed error (as on init)."""
        try:
            return await self._status()
        except AgentStorageError:
            raise
        except Exception as exc:
            raise translate(exc) from exc

    async def _status(self) -> StoreStatus:
        p = self.options.table_prefix
        counts = {}
        for logical, index, pk in (
            ("threads", "gsi7", f"{p}#THREADS"),
            ("workflow_runs", "gsi5", f"{p}#RUNS"),
            ("scores", "gsi5", f"{p}#SCORES"),
            ("traces", "gsi1", f"{p}#ROOTS"),
            ("agents", "gsi2", f"{p}#AGENTS"),
        ):
            e = Expr()
            counts[logical] = await self.table.count({
                "IndexName": index,
                "KeyConditionExpression": f"{e.n(index + 'pk')} = {e.s(pk)}", **e.params()})
        return StoreStatus(backend=self.backend_name, url=str(self.url), schema_version=1,
                           latest_version=1, tables=counts)

    async def drop_store(self) -> None:
        """Delete every item of this store (its table_prefix) by Scan; the table and
        other stores' items stay (see Backend.drop_store)."""
        try:
            keys = [{"pk": i["pk"], "sk": i["sk"]} async for i in self.export_items()]
            await self.table.batch_write([{"DeleteRequest": {"Key": k}} for k in keys])
        except AgentStorageError:
            raise
        except Exception as exc:
            raise translate(exc) from exc

    async def export_items(self) -> AsyncIterator[dict[str, Any]]:
        """Explicit admin export: every item of this store (table_prefix) by Scan.

        The only Scan in the backend; no domain call uses it.
        """
        e = Expr()
        params: dict[str, Any] = {
            "TableName": self.table_name,
            "FilterExpression": f"begins_with({e.n('pk')}, {e.s(self.options.table_prefix + '#')})",
            **e.params(),
        }
        while True:
            resp = await self.table.call("scan", **params)
            for item in resp.get("Items", []):
                yield item
            lek = resp.get("LastEvaluatedKey")
            if lek is None:
                return
            params["ExclusiveStartKey"] = lek


class DynamoIndexes(IndexManager):
    """``storage.indexes`` on DynamoDB: lists the table's LSI and GSIs; nothing else."""

    def __init__(self, backend: DynamoBackend) -> None:
        self.backend = backend

    @staticmethod
    def _served(index: str) -> str:
        used = sorted({e.name for e in ENTITIES.values() for a in e.indexes if a.index == index})
        return ", ".join(used)

    def _info(self, idx: Any) -> IndexInfo:
        kind = "lsi" if idx.local else "gsi"
        return IndexInfo(name=idx.name, table=self.backend.table_name, columns=(idx.pk, idx.sk),
                         unique=False, method=kind,
                         definition=f"{kind} {idx.name} ({idx.pk}, {idx.sk}) serving "
                                    f"{self._served(idx.name)}")

    async def list(self, table: str | None = None) -> list[IndexInfo]:
        description = await self.backend.describe_table()
        present = {i["IndexName"] for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes")
                   for i in description.get(key, [])}
        infos = [self._info(i) for i in (LSI, *GSIS) if i.name in present]
        if table is not None:
            entity = {"threads": "thread", "messages": "message", "workflow_runs": "run",
                      "scores": "score", "spans": "span", "agents": "agent"}.get(table, table)
            infos = [i for i in infos if entity in self._served(i.name).split(", ")]
        return infos

    async def describe(self, name: str) -> IndexStats:
        description = await self.backend.describe_table()
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            for found in description.get(key, []):
                if found["IndexName"] == name:
                    keys = tuple(k["AttributeName"] for k in found["KeySchema"])
                    return IndexStats(name=name, table=self.backend.table_name, columns=keys,
                                      method="lsi" if key.startswith("Local") else "gsi",
                                      size_bytes=found.get("IndexSizeBytes"),
                                      tuples_read=None,
                                      definition=str(found.get("Projection")))
        raise IndexNotFoundError(f"index {name!r} not found on table {self.backend.table_name!r}")

    async def create(self, spec: IndexSpec) -> IndexInfo:
        raise NotSupportedError(
            "the dynamodb backend's GSIs are fixed by its key design; IndexSpec is not "
            "supported (see `agent-storage dynamodb-table-spec`)"
        )

    async def drop(self, name: str) -> bool:
        raise NotSupportedError("the dynamodb backend does not drop indexes")
