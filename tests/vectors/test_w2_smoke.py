"""W2 smoke test: the benchmark runs end to end at a tiny scale on SQLite and on
PostgreSQL with pgvector, and its correctness numbers hold (no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(url: str, tmp_path: Path) -> dict[str, float]:
    out = tmp_path / "w2.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.w2", "--url", url, "--scale", "0.02",
         "--queries", "60", "--slices", "4", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    report: dict[str, float] = json.loads(out.read_text())
    return report


def test_w2_sqlite(tmp_path: Path) -> None:
    report = _run(f"sqlite:///{tmp_path / 'w2.db'}", tmp_path)
    assert report["messages"] == 2000 and report["search_calls"] == 60
    assert report["recall_at_3_ours"] == 1.0  # exact search
    assert report["recall_at_3_raw"] == 1.0


def test_w2_pgvector(pgvector_url: str, tmp_path: Path) -> None:
    report = _run(pgvector_url, tmp_path)
    assert report["recall_at_3_ours"] >= 0.9
    assert report["with_vectors_us"] > 0 and report["plain_us"] > 0
