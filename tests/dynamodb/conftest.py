"""DynamoDB over the real wire protocol: a moto server in a child process on 127.0.0.1.

Every request is serialised by botocore, sent over HTTP and parsed by the server, as it
would be against AWS. ``$AGENT_STORAGE_TEST_DYNAMODB_URL`` (e.g. DynamoDB Local at
``http://127.0.0.1:8000``) replaces moto. Under ``CI=true`` a server that cannot start
fails the tests instead of skipping them.

Every store gets its own table created from ``agent_storage_dynamodb.spec.table_spec``
(the definition ``agent-storage dynamodb-table-spec`` prints), so every test also proves
that spec is what the code needs, and a fresh ``table_prefix``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from agent_storage import Storage, open_store
from dynamo_testlib import (  # re-exported: tests import them from conftest too
    REGION,
    dynamodb_url,
    new_prefix,
    new_table,
)

ENV_URL = "AGENT_STORAGE_TEST_DYNAMODB_URL"
TABLE = "agent-storage-tests"  # for URL-only fixtures; stores use their own tables


#: ``python -m moto.server`` handling one request at a time: moto's DynamoDB is not
#: thread-safe (concurrent transactions fail with "dictionary changed size during
#: iteration" and conditional writes could interleave), while DynamoDB itself is
#: linearisable per item. Requests from concurrent client tasks still overlap on the wire.
MOTO_SERVER = """
import copy, os, sys, threading, types
from werkzeug.serving import WSGIRequestHandler, run_simple
import moto.dynamodb.models as models
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

# Speed only, same semantics: moto's TransactWriteItems deep-copies the WHOLE table once per
# operation as its rollback snapshot (quadratic: 2,000 items x 25 operations per call).
# Snapshot only the items the transaction touches and restore those on failure. Safe
# because this server handles one request at a time.
_transact = models.DynamoDBBackend.transact_write_items
_no_table_copy = types.SimpleNamespace(
    deepcopy=lambda obj, memo=None: obj if isinstance(obj, Table) else copy.deepcopy(obj, memo))


def transact_write_items(self, transact_items):
    saved = []
    try:
        for entry in transact_items:
            op_type, op = next(iter(entry.items()))
            table = self.get_table(op["TableName"])
            if op_type == "Put":
                key = {table.hash_key_attr: op["Item"][table.hash_key_attr],
                       table.range_key_attr: op["Item"][table.range_key_attr]}
            else:
                key = op["Key"]
            current = self.get_item(op["TableName"], key)
            attrs = None if current is None else copy.deepcopy(current.to_json()["Attributes"])
            saved.append((op["TableName"], key, attrs))
    except Exception:
        return _transact(self, transact_items)  # let moto report malformed requests
    models.copy = _no_table_copy
    try:
        return _transact(self, transact_items)
    except Exception:
        for name, key, attrs in reversed(saved):
            if attrs is None:
                try:
                    self.delete_item(name, key)
                except Exception:
                    pass
            else:
                self.put_item(name, attrs)
        raise
    finally:
        models.copy = copy


models.DynamoDBBackend.transact_write_items = transact_write_items

# One request at a time (a lock), but a thread per connection so HTTP/1.1 keep-alive
# works: a fresh TCP connection per request doubled the latency of every call.
WSGIRequestHandler.protocol_version = "HTTP/1.1"
_app = DomainDispatcherApplication(create_backend_app)
_lock = threading.Lock()


def app(environ, start_response):
    with _lock:
        return list(_app(environ, start_response))


port = int(sys.argv[1])
os.environ.setdefault("MOTO_PORT", str(port))
run_simple("127.0.0.1", port, app, threaded=True)
"""

def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited with code {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto server did not listen on port {port} within {timeout} s")


@pytest.fixture(scope="session")
def aws_env() -> Iterator[None]:
    """Fake credentials for the local server (the standard AWS chain reads them)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("AWS_ACCESS_KEY_ID", "testing")
    mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    mp.setenv("AWS_SESSION_TOKEN", "testing")
    mp.setenv("AWS_DEFAULT_REGION", REGION)
    mp.delenv("AWS_PROFILE", raising=False)
    yield
    mp.undo()


@pytest.fixture(scope="session")
def dynamodb_endpoint(aws_env: None) -> Iterator[str]:
    """The endpoint URL of a DynamoDB-compatible server for this session."""
    given = os.environ.get(ENV_URL)
    if given:
        yield given
        return
    try:
        import moto.server  # noqa: F401
    except ImportError as exc:  # pragma: no cover
        if _in_ci():
            pytest.fail(f"CI=true and moto[server] is not installed: {exc}", pytrace=False)
        pytest.skip(f"moto[server] not installed: {exc}")
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", MOTO_SERVER, str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(port, proc)
    except RuntimeError as exc:
        proc.kill()
        if _in_ci():
            pytest.fail(f"CI=true and the moto server did not start: {exc}", pytrace=False)
        pytest.skip(f"moto server did not start: {exc}")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest_asyncio.fixture
async def raw_client(dynamodb_endpoint: str) -> AsyncIterator[Any]:
    """A plain aiobotocore client on the test server (for set-up and inspection)."""
    from agent_storage_dynamodb.client import _session

    async with _session().create_client("dynamodb", region_name=REGION,
                                        endpoint_url=dynamodb_endpoint) as client:
        yield client


@pytest.fixture(scope="session")
def sync_client(dynamodb_endpoint: str) -> Any:
    """A boto3 client made once per session: creating tables per store costs ~10 ms
    instead of a new async client per test."""
    import boto3

    return boto3.client("dynamodb", region_name=REGION, endpoint_url=dynamodb_endpoint)


@pytest.fixture
def agent_storage_url(dynamodb_endpoint: str) -> str:
    return dynamodb_url(dynamodb_endpoint, TABLE)


@pytest_asyncio.fixture
async def storage_factory(
    dynamodb_endpoint: str, sync_client: Any,
) -> AsyncIterator[Callable[..., Awaitable[Storage]]]:
    """Each call: a store on a NEW table created from the CLI's table spec (moto scans a
    whole table on every Query, so small per-test tables keep the run fast), with a fresh
    table_prefix too; initialised unless ``disable_init=True``; closed and the tables
    deleted at teardown."""
    made: list[Storage] = []
    tables: list[str] = []

    async def factory(**options: Any) -> Storage:
        options.setdefault("table_prefix", new_prefix())
        from agent_storage_dynamodb.spec import table_spec, ttl_spec

        table = new_table()
        sync_client.create_table(**table_spec(table))
        sync_client.update_time_to_live(**ttl_spec(table, options.get("ttl_attribute", "ttl")))
        tables.append(table)
        store = open_store(dynamodb_url(dynamodb_endpoint, table), fresh=True, **options)
        made.append(store)
        if not options.get("disable_init", False):
            await store.init()
        return store

    yield factory
    for store in reversed(made):
        await store.close()
    for table in tables:
        try:
            sync_client.delete_table(TableName=table)
        except Exception:  # a test may have deleted it itself
            pass


@pytest_asyncio.fixture
async def store(storage_factory: Callable[..., Awaitable[Storage]]) -> Storage:
    return await storage_factory()


@pytest.fixture
def agent_storage_unavailable(sync_client: Any) -> Callable[[Storage], Awaitable[Storage]]:
    """The kit's "database gone" hook: the store's table is deleted; a new store on it."""
    from agent_storage.testing._helpers import reopen

    async def unavailable(store: Storage) -> Storage:
        sync_client.delete_table(TableName=store.backend.table_name)
        return reopen(store)

    return unavailable


# -- capability cases that do not apply --------------------------------------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (not skip) kit cases needing a capability DynamoDB does not declare
    (``indexes``, ``migrations``): they cannot apply here, while a skip would mean
    "could not verify". DynamoDB's own index listing and refusals are tested in
    test_dynamodb.py."""
    from agent_storage_dynamodb.store import DynamoBackend

    declared = DynamoBackend.capabilities
    here = Path(__file__).resolve().parent
    keep, dropped = [], []
    for item in items:
        wanted = {c for m in item.iter_markers("agent_storage_requires") for c in m.args}
        mine = here in Path(str(item.path)).resolve().parents  # a run of several dirs
        (dropped if mine and wanted - declared else keep).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
        _NOT_APPLICABLE.extend(sorted({c for i in dropped
                                       for m in i.iter_markers("agent_storage_requires")
                                       for c in m.args} - declared))


_NOT_APPLICABLE: list[str] = []


def pytest_report_header(config: pytest.Config) -> str:
    return "dynamodb: moto server over HTTP (or $AGENT_STORAGE_TEST_DYNAMODB_URL)"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _NOT_APPLICABLE:
        terminalreporter.write_line(
            "dynamodb: kit cases deselected as not applicable (capabilities not declared): "
            + ", ".join(_NOT_APPLICABLE))
