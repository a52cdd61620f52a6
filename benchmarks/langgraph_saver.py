"""aput + aget_tuple: AgentStorageSaver against LangGraph's own SQLite / PostgreSQL savers.

    python -m benchmarks.langgraph_saver --backend sqlite [--threads 20] [--steps 50]
    python -m benchmarks.langgraph_saver --backend pg --pg-url postgresql://postgres@127.0.0.1:5432/db

A W1-style agent loop in one process: ``--threads`` conversations of ``--steps`` steps;
each step puts a checkpoint (two channels: ``messages`` changes every step with a
~300-byte value, ``topic`` only at step 0) and its pending write, then reads the latest
checkpoint back (what a graph does to resume). Both savers run the same calls on their
own fresh storage (SQLite: two files in a temp directory; pg: our store in a new schema,
LangGraph's tables in the database's public schema with new thread ids), alternating
thread by thread so both see the same machine load. Prints microseconds per call
(median and mean) per operation and the ratio ours/theirs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver, empty_checkpoint
from langgraph.checkpoint.base.id import uuid6

OPS = ("aput", "aput_writes", "aget_tuple")


async def _thread(saver: BaseCheckpointSaver[Any], steps: int,
                  times: dict[str, list[float]]) -> None:
    config: dict[str, Any] = {"configurable": {"thread_id": uuid.uuid4().hex,
                                               "checkpoint_ns": ""}}
    versions: dict[str, Any] = {}
    for step in range(steps):
        cp = empty_checkpoint()
        cp["id"] = str(uuid6(clock_seq=step))
        versions = {"messages": step + 1, "topic": 1}
        cp["channel_versions"] = dict(versions)
        cp["channel_values"] = {"messages": [{"role": "assistant", "content": "x" * 300}],
                                "topic": "lisbon"}
        new = {"messages": step + 1, **({"topic": 1} if step == 0 else {})}
        t0 = time.perf_counter()
        config = await saver.aput(config, cp, {"source": "loop", "step": step}, new)
        t1 = time.perf_counter()
        await saver.aput_writes(config, [("messages", {"role": "user", "content": "y" * 100})],
                                f"task-{step}")
        t2 = time.perf_counter()
        got = await saver.aget_tuple({"configurable": {
            "thread_id": config["configurable"]["thread_id"], "checkpoint_ns": ""}})
        t3 = time.perf_counter()
        assert got is not None and got.checkpoint["id"] == cp["id"]
        for op, dt in zip(OPS, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            times[op].append(dt * 1e6)


@asynccontextmanager
async def _ours(url: str, **options: Any) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    from agent_storage import open_store
    from agent_storage.integrations.langgraph import AgentStorageSaver

    async with open_store(url, fresh=True, **options) as storage:
        yield AgentStorageSaver(storage)


@asynccontextmanager
async def _theirs_sqlite(path: Path) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
        await saver.setup()
        yield saver


@asynccontextmanager
async def _theirs_pg(url: str) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    async with AsyncPostgresSaver.from_conn_string(url) as saver:
        await saver.setup()
        yield saver


async def run(backend: str, *, threads: int, steps: int, pg_url: str | None = None,
              where: Path | None = None) -> dict[str, dict[str, float]]:
    """Per operation and side: median and mean microseconds per call, and the ratios."""
    tmp = where or Path(tempfile.mkdtemp(prefix="lg-bench-"))
    ours: Callable[[], Any]
    theirs: Callable[[], Any]
    if backend == "sqlite":
        ours = lambda: _ours(f"sqlite:///{tmp / 'ours.db'}")  # noqa: E731
        theirs = lambda: _theirs_sqlite(tmp / "theirs.db")  # noqa: E731
    elif backend == "pg":
        if not pg_url:
            raise SystemExit("--pg-url is required for --backend pg")
        schema = f"lg_bench_{uuid.uuid4().hex[:8]}"
        ours = lambda: _ours(pg_url, schema=schema)  # noqa: E731
        theirs = lambda: _theirs_pg(pg_url)  # noqa: E731
    else:
        raise SystemExit(f"unknown backend {backend!r}")
    times: dict[str, dict[str, list[float]]] = {
        side: {op: [] for op in OPS} for side in ("ours", "theirs")}
    async with ours() as a, theirs() as b:
        for n in range(threads):  # alternate: ours, theirs, theirs, ours, ...
            order = [("ours", a), ("theirs", b)]
            for side, saver in (order if n % 2 == 0 else order[::-1]):
                await _thread(saver, steps, times[side])
    report: dict[str, dict[str, float]] = {}
    for op in OPS:
        row = {f"{side}_{stat}": fn(times[side][op]) for side in ("ours", "theirs")
               for stat, fn in (("median", statistics.median), ("mean", statistics.fmean))}
        row["ratio_median"] = row["ours_median"] / row["theirs_median"]
        report[op] = row
    both = {side: [sum(x) for x in zip(*(times[side][op] for op in OPS), strict=True)]
            for side in ("ours", "theirs")}
    report["step (all three)"] = {
        "ours_median": statistics.median(both["ours"]),
        "theirs_median": statistics.median(both["theirs"]),
        "ours_mean": statistics.fmean(both["ours"]),
        "theirs_mean": statistics.fmean(both["theirs"]),
    }
    report["step (all three)"]["ratio_median"] = (report["step (all three)"]["ours_median"]
                                                  / report["step (all three)"]["theirs_median"])
    return report


def _table(backend: str, report: dict[str, dict[str, float]]) -> str:
    theirs = {"sqlite": "AsyncSqliteSaver", "pg": "AsyncPostgresSaver"}[backend]
    lines = [f"| {backend} | ours median / mean (us) | {theirs} median / mean (us) "
             "| ours/theirs (median) |", "|---|---|---|---|"]
    for op, r in report.items():
        lines.append(f"| {op} | {r['ours_median']:.0f} / {r['ours_mean']:.0f} | "
                     f"{r['theirs_median']:.0f} / {r['theirs_mean']:.0f} | "
                     f"{r['ratio_median']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "pg"), required=True)
    parser.add_argument("--pg-url")
    parser.add_argument("--threads", type=int, default=20)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    report = asyncio.run(run(args.backend, threads=args.threads, steps=args.steps,
                             pg_url=args.pg_url))
    print(_table(args.backend, report))


if __name__ == "__main__":
    main()
