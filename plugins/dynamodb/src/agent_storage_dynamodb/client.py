"""The request layer: one aiobotocore client, retries, pagination, batches, transactions.

* Throttling (``ProvisionedThroughputExceededException``, ``ThrottlingException``,
  ``RequestLimitExceeded``, a transaction cancelled by ``TransactionConflict``) and lost
  connections are retried here with exponential backoff and full jitter; botocore's own
  retries are off so there is exactly one retry policy. When attempts run out the error
  is a :class:`~agent_storage.errors.TransientBackendError`.
* :meth:`Table.query` follows ``LastEvaluatedKey`` until it has what the caller needs:
  a page is never silently dropped.
* :meth:`Table.batch_write` sends chunks of 25 and retries ``UnprocessedItems`` with the
  same backoff; :meth:`Table.batch_get` does the same for ``UnprocessedKeys``.
* Every item is size-checked before it is sent (:func:`.expr.check_item_size`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from agent_storage.errors import (
    AgentStorageError,
    BackendError,
    ConfigurationError,
    RecordTooLargeError,
    SchemaNotInitializedError,
    TransientBackendError,
    ValidationError,
)

from .expr import Item, Projection, check_item_size, item_size

__all__ = ["MAX_TRANSACTION_BYTES", "MAX_TRANSACTION_ITEMS", "Table", "TxCanceled", "translate"]

log = logging.getLogger("agent_storage.sql")

#: DynamoDB's TransactWriteItems limits.
MAX_TRANSACTION_ITEMS: Final = 100
MAX_TRANSACTION_BYTES: Final = 4 * 1024 * 1024

THROTTLE_CODES: Final = frozenset({
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TransactionConflictException",
    "InternalServerError",
    "ServiceUnavailable",
    "LimitExceededException",
})
#: CancellationReasons codes of a TransactionCanceledException that are worth retrying.
RETRY_REASONS: Final = frozenset({"TransactionConflict", "ThrottlingError",
                                  "ProvisionedThroughputExceeded", "RequestLimitExceeded"})


_SESSION: Any = None


def _session() -> Any:
    """One botocore session per process: it caches the parsed service model, which
    takes most of a second to load (a session per store made every open slow)."""
    global _SESSION
    if _SESSION is None:
        from aiobotocore.session import get_session

        _SESSION = get_session()
    return _SESSION


class RetryPolicy:
    """Exponential backoff with full jitter: sleep U(0, min(cap, base * 2**attempt))."""

    def __init__(self, attempts: int = 10, base: float = 0.02, cap: float = 2.0) -> None:
        self.attempts = attempts
        self.base = base
        self.cap = cap

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * (2 ** attempt)))


class TxCanceled(Exception):
    """A transaction was cancelled; ``reasons`` holds one code per operation ('None' = ok)."""

    def __init__(self, reasons: Sequence[str], cause: Exception) -> None:
        super().__init__(f"transaction cancelled: {list(reasons)}")
        self.reasons = list(reasons)
        self.cause = cause

    def failed(self, index: int) -> bool:
        return index < len(self.reasons) and self.reasons[index] not in ("None", "", None)


def _error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        return response.get("Error", {}).get("Code")  # type: ignore[no-any-return]
    return None


def _is_server_error(exc: BaseException) -> bool:
    """HTTP 5xx: DynamoDB says to retry these (InternalServerError, ServiceUnavailable)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, Mapping):
        return False
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return int(status) >= 500


def _is_connection_error(exc: BaseException) -> bool:
    try:
        from botocore.exceptions import (
            ConnectionClosedError,
            EndpointConnectionError,
            ReadTimeoutError,
        )
    except ImportError:  # pragma: no cover
        return False
    if isinstance(exc, EndpointConnectionError | ConnectionClosedError | ReadTimeoutError):
        return True
    try:
        import aiohttp
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, aiohttp.ClientConnectionError | asyncio.TimeoutError)


def is_condition_failed(exc: BaseException) -> bool:
    return _error_code(exc) == "ConditionalCheckFailedException"


def translate(exc: BaseException) -> AgentStorageError:
    """Classify a botocore/aiohttp error as an agent-storage error."""
    if isinstance(exc, AgentStorageError):
        return exc
    code = _error_code(exc)
    message = f"{type(exc).__name__}: {exc}"
    if code in THROTTLE_CODES or _is_connection_error(exc) or _is_server_error(exc):
        return TransientBackendError(message)
    if code == "ResourceNotFoundException":
        return SchemaNotInitializedError(
            f"{message}; create the table with create_table=True, `agent-storage init URL` or "
            "the definition printed by `agent-storage dynamodb-table-spec`"
        )
    if code == "ValidationException" and "size" in str(exc).lower():
        return RecordTooLargeError(message)
    if type(exc).__name__ == "NoRegionError":
        return ConfigurationError(
            "no AWS region: pass ?region=... (or region=...) or set AWS_DEFAULT_REGION"
        )
    if type(exc).__name__ in ("NoCredentialsError", "PartialCredentialsError"):
        return ConfigurationError(f"{message}: configure AWS credentials (standard AWS chain)")
    return BackendError(message)


class Table:
    """One DynamoDB table seen through one aiobotocore client."""

    def __init__(self, name: str, *, region: str | None, endpoint_url: str | None,
                 debug: bool = False, retry: RetryPolicy | None = None) -> None:
        self.name = name
        self.region = region
        self.endpoint_url = endpoint_url
        self.debug = debug
        self.retry = retry or RetryPolicy()
        self.client: Any = None
        self._cm: Any = None

    # -- lifecycle -----------------------------------------------------------------------

    async def open(self) -> Any:
        if self.client is not None:
            return self.client
        from aiobotocore.config import AioConfig

        # Retries are ours (RetryPolicy): one policy, visible in tests and logs. Every
        # request is built here from typed records, so botocore's client-side parameter
        # validation only re-checks our own code, at ~1 ms per 20-message transaction
        # (DynamoDB still validates every request).
        config = AioConfig(retries={"total_max_attempts": 1}, max_pool_connections=32,
                           parameter_validation=False)
        cm = _session().create_client(
            "dynamodb", region_name=self.region, endpoint_url=self.endpoint_url, config=config
        )
        try:
            client = await cm.__aenter__()
        except Exception as exc:
            raise translate(exc) from exc
        self._cm, self.client = cm, client
        return client

    async def close(self) -> None:
        cm, self._cm, self.client = self._cm, None, None
        if cm is not None:
            await cm.__aexit__(None, None, None)

    def abandon(self) -> None:
        self._cm = None
        self.client = None

    # -- one request, retried ------------------------------------------------------------

    async def call(self, op: str, **params: Any) -> dict[str, Any]:
        """Send one request; retry throttling and lost connections with backoff + jitter."""
        client = self.client if self.client is not None else await self.open()
        method = getattr(client, op)
        last: BaseException | None = None
        for attempt in range(self.retry.attempts):
            started = time.perf_counter()
            try:
                response: dict[str, Any] = await method(**params)
            except Exception as exc:
                code = _error_code(exc)
                retry = (code in THROTTLE_CODES or _is_connection_error(exc)
                         or _is_server_error(exc))
                if code == "TransactionCanceledException":
                    reasons = [r.get("Code", "None") for r in
                               getattr(exc, "response", {}).get("CancellationReasons", [])]
                    if any(r in RETRY_REASONS for r in reasons):
                        retry = True
                    else:
                        raise TxCanceled(reasons, exc) from exc
                if self.debug:
                    log.debug("dynamodb %s failed after %.1f ms: %s", op,
                              (time.perf_counter() - started) * 1000, code or exc)
                if not retry:
                    raise
                last = exc
                await asyncio.sleep(self.retry.delay(attempt))
                continue
            if self.debug:
                log.debug("dynamodb %s %.1f ms", op, (time.perf_counter() - started) * 1000)
            return response
        assert last is not None
        raise TransientBackendError(
            f"dynamodb {op}: still failing after {self.retry.attempts} attempts: "
            f"{_error_code(last) or type(last).__name__}"
        ) from last

    # -- items ---------------------------------------------------------------------------

    async def get(self, key: Item, *, consistent: bool = True) -> Item | None:
        resp = await self.call("get_item", TableName=self.name, Key=key, ConsistentRead=consistent)
        return resp.get("Item")  # type: ignore[no-any-return]

    async def put(self, item: Item, what: str, **extra: Any) -> dict[str, Any]:
        check_item_size(item, what)
        return await self.call("put_item", TableName=self.name, Item=item, **extra)

    async def update(self, key: Item, **params: Any) -> dict[str, Any]:
        return await self.call("update_item", TableName=self.name, Key=key, **params)

    async def delete(self, key: Item, **params: Any) -> dict[str, Any]:
        return await self.call("delete_item", TableName=self.name, Key=key, **params)

    # -- queries -------------------------------------------------------------------------

    async def query(
        self,
        params: Mapping[str, Any],
        *,
        offset: int = 0,
        limit: int | None = None,
        pred: Callable[[Item], bool] | None = None,
        selective: bool = False,
        project: Projection | None = None,
    ) -> list[Item]:
        """Items of a Query (``params`` without TableName), following LastEvaluatedKey.

        ``offset`` matching items are skipped (by ``Select=COUNT`` requests when there is
        no client-side ``pred``: still read and billed, but not transferred), then up to
        ``limit`` items are returned (None = all). ``pred`` filters client-side (it sees
        only the projected attributes). ``selective`` says a FilterExpression drops many
        items, so pages are not sized to the exact number still needed. ``project``: the
        only attributes the returned items carry.
        """
        base = dict(params, TableName=self.name)
        if offset and pred is None:
            skipped = 0
            while skipped < offset:
                probe = {k: v for k, v in base.items() if k != "ProjectionExpression"}
                probe.update(Select="COUNT", Limit=offset - skipped)
                resp = await self.call("query", **probe)
                skipped += resp["Count"]
                lek = resp.get("LastEvaluatedKey")
                if lek is None:
                    return []
                base["ExclusiveStartKey"] = lek
            offset = 0
        if project is not None:
            base["ProjectionExpression"] = project.expression
            base["ExpressionAttributeNames"] = {**base.get("ExpressionAttributeNames", {}),
                                                **project.names}
        need = None if limit is None else offset + limit
        out: list[Item] = []
        while True:
            request = dict(base)
            if need is not None:
                remaining = need - len(out)
                if remaining <= 0:
                    break
                request["Limit"] = max(remaining, 100) if (selective or pred) else remaining
            resp = await self.call("query", **request)
            items = resp.get("Items", [])
            out.extend(items if pred is None else [i for i in items if pred(i)])
            lek = resp.get("LastEvaluatedKey")
            if lek is None:
                break
            base["ExclusiveStartKey"] = lek
        if need is not None:
            out = out[:need]
        return out[offset:] if offset else out

    async def count(self, params: Mapping[str, Any], *,
                    pred: Callable[[Item], bool] | None = None) -> int:
        """How many items a Query matches (``Select=COUNT``, every page)."""
        if pred is not None:
            return len(await self.query(params, pred=pred))
        base = dict(params, TableName=self.name, Select="COUNT")
        base.pop("ProjectionExpression", None)
        total = 0
        while True:
            resp = await self.call("query", **base)
            total += int(resp["Count"])
            lek = resp.get("LastEvaluatedKey")
            if lek is None:
                return total
            base["ExclusiveStartKey"] = lek

    # -- batches -------------------------------------------------------------------------

    async def batch_get(self, keys: Sequence[Item], *, consistent: bool = True) -> list[Item]:
        """Items for ``keys`` (missing ones skipped), 100 keys a request, retried."""
        unique: dict[tuple[str, str], Item] = {}
        for key in keys:
            unique[(key["pk"]["S"], key["sk"]["S"])] = key
        chunks = [list(unique.values())[i:i + 100] for i in range(0, len(unique), 100)]
        results = await asyncio.gather(*(self._batch_get_chunk(c, consistent) for c in chunks))
        return [item for chunk in results for item in chunk]

    async def _batch_get_chunk(self, keys: list[Item], consistent: bool) -> list[Item]:
        out: list[Item] = []
        request: dict[str, Any] = {self.name: {"Keys": keys, "ConsistentRead": consistent}}
        for attempt in range(self.retry.attempts):
            resp = await self.call("batch_get_item", RequestItems=request)
            out.extend(resp.get("Responses", {}).get(self.name, []))
            request = resp.get("UnprocessedKeys") or {}
            if not request.get(self.name, {}).get("Keys"):
                return out
            await asyncio.sleep(self.retry.delay(attempt))
        raise TransientBackendError(
            f"dynamodb BatchGetItem: keys still unprocessed after {self.retry.attempts} attempts"
        )

    async def batch_write(self, requests: Sequence[dict[str, Any]], what: str = "item") -> None:
        """PutRequest/DeleteRequest entries in chunks of 25; UnprocessedItems retried."""
        for req in requests:
            if "PutRequest" in req:
                check_item_size(req["PutRequest"]["Item"], what)
        chunks = [list(requests[i:i + 25]) for i in range(0, len(requests), 25)]
        gate = asyncio.Semaphore(4)

        async def run(chunk: list[dict[str, Any]]) -> None:
            async with gate:
                await self._batch_write_chunk(chunk)

        await asyncio.gather(*(run(c) for c in chunks))

    async def _batch_write_chunk(self, chunk: list[dict[str, Any]]) -> None:
        pending = chunk
        for attempt in range(self.retry.attempts):
            resp = await self.call("batch_write_item", RequestItems={self.name: pending})
            pending = (resp.get("UnprocessedItems") or {}).get(self.name) or []
            if not pending:
                return
            await asyncio.sleep(self.retry.delay(attempt))
        raise TransientBackendError(
            f"dynamodb BatchWriteItem: {len(pending)} items still unprocessed after "
            f"{self.retry.attempts} attempts"
        )

    # -- transactions --------------------------------------------------------------------

    @staticmethod
    def transaction_fits(ops: Sequence[dict[str, Any]]) -> bool:
        if len(ops) > MAX_TRANSACTION_ITEMS:
            return False
        total = 0
        for op in ops:
            body = op.get("Put") or op.get("Update") or op.get("Delete") or op.get("ConditionCheck")
            if body and "Item" in body:
                total += item_size(body["Item"])
            else:
                total += 1024
        return total <= MAX_TRANSACTION_BYTES

    async def transact(self, ops: Sequence[dict[str, Any]], what: str = "item") -> None:
        """TransactWriteItems (operations without TableName); raises TxCanceled."""
        if not ops:
            return
        if len(ops) > MAX_TRANSACTION_ITEMS:
            raise ValidationError(
                f"a DynamoDB transaction holds at most {MAX_TRANSACTION_ITEMS} items, "
                f"got {len(ops)}"
            )
        items = []
        for op in ops:
            (kind, body), = op.items()
            if kind == "Put":
                check_item_size(body["Item"], what)
            items.append({kind: dict(body, TableName=self.name)})
        # The token makes a retried transaction idempotent for ten minutes.
        await self.call("transact_write_items", TransactItems=items,
                        ClientRequestToken=uuid.uuid4().hex)
