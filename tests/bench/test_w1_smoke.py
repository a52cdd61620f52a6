"""W1 correctness smoke test: the dataset hash, and every phase at a tiny scale, raw and ours.

Every phase checks each returned id list inside `run_phases`/`run_interleaved`, so a wrong
order, a missing message or a stale `updated_at` fails here. No timing assertions: timings
belong to `python -m benchmarks.w1`.

Backends: memory:// and SQLite always; PostgreSQL at ``$AGENT_STORAGE_TEST_PG_URL`` or
127.0.0.1:5432 (user postgres); DynamoDB on a moto server this module starts (or
``$AGENT_STORAGE_TEST_DYNAMODB_URL``). A missing server skips, except under ``CI=true``.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from benchmarks.w1.__main__ import main
from benchmarks.w1.backends import make_backend, start_moto
from benchmarks.w1.data import EXPECTED_SHA256, generate, sha256
from benchmarks.w1.ours import Ours
from benchmarks.w1.phases import PHASES, run_interleaved, run_phases
from benchmarks.w1.raw.stdlib_sqlite import RawStdlibSqlite

TINY = 0.02  # 1 user, 4 threads, 400 messages, 20 write calls, 4 context picks
PG_URL = os.environ.get(
    "AGENT_STORAGE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
DYNAMO_ENV = "AGENT_STORAGE_TEST_DYNAMODB_URL"


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _unavailable(what: str) -> None:
    if _ci():
        pytest.fail(f"{what} is not reachable (CI=true: not skipping)")
    pytest.skip(f"{what} is not reachable")


def _answers(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), timeout=1
        ).close()
    except OSError:
        return False
    return True


def test_dataset_sha256_at_scale_1() -> None:
    data = generate(1)
    assert len(data.threads) == 200
    assert len(data.messages) == 20_000
    assert len(data.batches) == 1_000
    assert len(data.context_picks) == 200
    assert sha256(data) == EXPECTED_SHA256


def test_fractional_scale_shapes() -> None:
    data = generate(0.05)
    assert len(data.users) == 2
    assert len(data.threads) == 8
    assert len(data.messages) == 800
    assert data.expected_window("msg-000-000") == ["msg-000-000", "msg-000-001", "msg-000-002"]
    assert data.expected_window("msg-003-099")[-1] == "msg-003-099"


async def _edges(target: Any, data: Any) -> None:
    """Windows at thread edges are short; the recalled content is the generated text."""
    for mid in ("msg-000-000", "msg-000-001", "msg-001-099", "msg-003-098"):
        got = await target.window(mid, f"thread-{int(mid[4:7])}", 2, 2)
        assert [m.id for m in got] == data.expected_window(mid)
    last = await target.last("thread-3", 20)
    assert last[0].content["parts"][0]["text"] == data.messages[380].text


async def _both(slot: Any, data: Any) -> tuple[dict[str, float], dict[str, float]]:
    """raw (and any extra baseline) and ours side by side, as the runner does (alternating
    slices); every target's results are checked by the phases and `_edges`."""
    targets = [slot.raw, *slot.extra, Ours(slot.ours_url)]
    opened: list[Any] = []
    try:
        for t in targets:
            await t.open()
            opened.append(t)
        every = await run_interleaved(targets, data, chunks=2)
        for t in targets:
            await _edges(t, data)
    finally:
        for t in reversed(opened):
            await t.close()
    for rates in every:
        assert set(PHASES) <= set(rates)
        assert all(rates[p] > 0 for p in PHASES)
    return every[0], every[-1]


async def test_ours_on_memory() -> None:
    data = generate(TINY)
    target = Ours("memory://")
    await target.open()
    try:
        rates = await run_phases(target, data)
        await _edges(target, data)
    finally:
        await target.close()
    assert set(PHASES) <= set(rates)


async def test_raw_and_ours_on_sqlite(tmp_path: Path) -> None:
    pytest.importorskip("agent_storage_sqlite")
    backend = make_backend(f"sqlite:///{tmp_path / 'w1.db'}")
    slot = await backend.slot(0)
    # issue 16: the stdlib sqlite3 baseline (same process, no thread hop) runs beside aiosqlite
    assert [t.name for t in slot.extra] == ["sqlite3"]
    try:
        await _both(slot, generate(TINY))
    finally:
        await backend.release(slot)


async def test_sync_api_target_on_sqlite(tmp_path: Path) -> None:
    """`--sync-api`: the blocking facade runs every phase beside the async API, checked."""
    pytest.importorskip("agent_storage_sqlite")
    backend = make_backend(f"sqlite:///{tmp_path / 'w1.db'}")
    backend.sync_api = True
    slot = await backend.slot(0)
    assert [t.name for t in slot.extra] == ["sqlite3", "sync"]
    try:
        await _both(slot, generate(TINY))
    finally:
        await backend.release(slot)


def test_stdlib_sqlite3_baseline_is_wal_full_and_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The runner's report gives ours against both raw SQLite baselines."""
    pytest.importorskip("agent_storage_sqlite")
    async def pragmas() -> tuple[str, int]:
        raw = RawStdlibSqlite(str(tmp_path / "p.db"))
        await raw.open()
        try:
            assert isinstance(raw.db, sqlite3.Connection)
            mode = raw.db.execute("PRAGMA journal_mode").fetchone()[0]
            return mode, raw.db.execute("PRAGMA synchronous").fetchone()[0]
        finally:
            await raw.close()

    assert asyncio.run(pragmas()) == ("wal", 2)  # 2 = FULL
    out_json = tmp_path / "r.json"
    main(["--url", f"sqlite:///{tmp_path / 'w1.db'}", "--scale", str(TINY), "--repeat", "1",
          "--slices", "2", "--json", str(out_json)])
    text = capsys.readouterr().out
    assert "raw aiosqlite" in text
    assert "ratio ours/sqlite3" in text
    report = json.loads(out_json.read_text())
    assert report["extra_drivers"] == ["sqlite3"]
    for p in PHASES:
        assert report["median"][p]["ratio:sqlite3"] > 0
        assert report["runs"][0]["extra"]["sqlite3"][p] > 0


async def test_raw_and_ours_on_postgresql() -> None:
    pytest.importorskip("agent_storage_pg")
    if not _answers(PG_URL, 5432):
        _unavailable(f"PostgreSQL at {urlsplit(PG_URL).netloc}")
    backend = make_backend(PG_URL)
    slot = await backend.slot(0)  # databases w1_bench_<pid>_0_{raw,ours}, dropped after
    try:
        await _both(slot, generate(TINY))
    finally:
        await backend.release(slot)


@pytest.fixture(scope="module")
def dynamodb_url() -> Iterator[str]:
    endpoint = os.environ.get(DYNAMO_ENV)
    proc = None
    if endpoint is None:
        try:
            proc, endpoint = start_moto(None)
        except (SystemExit, OSError):
            _unavailable("a moto server")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    try:
        yield f"dynamodb://w1smoke?region=us-east-1&endpoint_url={endpoint}"
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)


async def test_raw_and_ours_on_dynamodb(dynamodb_url: str) -> None:
    pytest.importorskip("agent_storage_dynamodb")
    pytest.importorskip("aiobotocore")
    backend = make_backend(dynamodb_url)
    slot = await backend.slot(0)
    try:
        raw, ours = await _both(slot, generate(TINY))
    finally:
        await backend.release(slot)

    def requests(rates: dict[str, float], phase: str) -> dict[str, float]:
        prefix = f"req:{phase}:"
        return {k[len(prefix) :]: v for k, v in rates.items() if k.startswith(prefix)}

    # Issue 5: at most 2 round trips per 20-message save; recall and listing one Query
    # each. Since a re-save under another thread moves the message (issue 11 item 12),
    # each saved id is also looked up on gsi1: one Query per message, sent concurrently
    # within the first round trip (tests/dynamodb/test_requests.py counts them exactly).
    save = requests(ours, "A")
    assert sum(v for op, v in save.items() if op != "Query") <= 2, save
    assert save.get("Query", 0) <= 20, save
    assert requests(ours, "B") == {"Query": 1}
    assert requests(ours, "C") == {"Query": 1}
    # the raw baseline is counted too (the runner prints both)
    assert requests(raw, "B") == {"Query": 1}
