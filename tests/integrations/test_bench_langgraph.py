"""The LangGraph saver benchmark runs (tiny scale, no timing assertions): both savers do
the same calls and every checkpoint read back is the one just written."""

from __future__ import annotations

from pathlib import Path

from benchmarks.langgraph_saver import OPS, _table, run


async def test_runner_compares_with_langgraphs_sqlite_saver(tmp_path: Path) -> None:
    report = await run("sqlite", threads=2, steps=3, where=tmp_path)
    assert set(report) == {*OPS, "step (all three)"}
    assert all(row["ours_median"] > 0 and row["theirs_median"] > 0 for row in report.values())
    assert "AsyncSqliteSaver" in _table("sqlite", report)
    assert (tmp_path / "ours.db").exists() and (tmp_path / "theirs.db").exists()
