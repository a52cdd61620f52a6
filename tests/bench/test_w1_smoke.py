"""W1 correctness smoke test: the dataset hash, and the raw phases at a tiny scale.

No timing assertions: timings belong to `python -m benchmarks.w1`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.w1.data import EXPECTED_SHA256, generate, sha256
from benchmarks.w1.phases import PHASES, run_phases


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


async def test_raw_sqlite_phases(tmp_path: Path) -> None:
    pytest.importorskip("aiosqlite")
    from benchmarks.w1.raw.sqlite import RawSqlite

    data = generate(0.05)
    target = RawSqlite(str(tmp_path / "w1.db"))
    await target.open()
    try:
        # run_phases checks every returned id against the expected ones
        rates = await run_phases(target, data)
        # windows at thread edges are short
        for mid in ("msg-000-000", "msg-000-001", "msg-001-099", "msg-007-098"):
            got = await target.window(mid, "unused", 2, 2)
            assert [m.id for m in got] == data.expected_window(mid)
        last = await target.last("thread-3", 20)
        assert last[0].content["parts"][0]["text"] == data.messages[380].text
    finally:
        await target.close()
    assert set(rates) == set(PHASES)
