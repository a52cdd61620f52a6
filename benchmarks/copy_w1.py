"""Records/s of `copy_store` for W1: SQLite -> PostgreSQL and PostgreSQL -> SQLite (issue 16).

    python -m benchmarks.copy_w1 --pg postgresql://postgres@127.0.0.1:5432 --dir /tmp/cw1 \\
        [--scale 10] [--repeat 3] [--json FILE]

Fills a SQLite store with W1 at ``--scale`` through the async API once, then per repetition
copies it into a fresh PostgreSQL database and that one into a fresh SQLite file (memory
domain, ``verify=False`` for the timed copy, then the counts are checked). Records = threads
+ messages + resources copied; the rate is records over the copy's wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .w1.data import generate
from .w1.ours import Ours


async def _fill(url: str, scale: float) -> int:
    data = generate(scale)
    ours = Ours(url)
    await ours.open()
    try:
        for t in data.threads:
            await ours.create_thread(t)
        for s, c in data.batches:
            await ours.write(data.messages[s : s + c])
    finally:
        await ours.close()
    return len(data.threads) + len(data.messages)


async def _pg_db(base: str, name: str, drop_only: bool = False) -> str:
    import asyncpg

    parts = urlsplit(base)
    admin = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return urlunsplit(parts._replace(path="/" + name))


async def _copy(src: str, dst: str) -> dict[str, Any]:
    from agent_storage import open_store
    from agent_storage.copy import copy_store, store_digests

    target = open_store(dst, fresh=True)
    await target.init()
    try:
        t0 = time.perf_counter()
        report = await copy_store(src, target, domains="memory", verify=False)
        seconds = time.perf_counter() - t0
        counts = await store_digests(target, domains=["memory"])
    finally:
        await target.close()
    copied = report.copied
    return {"records": copied, "seconds": seconds, "rate": copied / seconds,
            "dst_counts": {k: v[0] for k, v in counts.items()}}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    os.makedirs(args.dir, exist_ok=True)
    src = f"sqlite:///{os.path.join(args.dir, 'src.db')}"
    for f in os.listdir(args.dir):
        os.remove(os.path.join(args.dir, f))
    t0 = time.perf_counter()
    n = await _fill(src, args.scale)
    print(f"filled {n} records in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    out: dict[str, list[dict[str, Any]]] = {"sqlite->pg": [], "pg->sqlite": []}
    for i in range(args.repeat):
        name = f"copy_w1_{os.getpid()}_{i}"
        pg = await _pg_db(args.pg, name)
        dst = os.path.join(args.dir, f"dst{i}.db")
        try:
            out["sqlite->pg"].append(await _copy(src, pg))
            out["pg->sqlite"].append(await _copy(pg, f"sqlite:///{dst}"))
        finally:
            await _pg_db(args.pg, name, drop_only=True)
            for f in os.listdir(args.dir):
                if f.startswith(f"dst{i}.db"):
                    os.remove(os.path.join(args.dir, f))
        print(f"repeat {i + 1}: " + "; ".join(
            f"{k} {v[-1]['rate']:,.0f} rec/s" for k, v in out.items()), file=sys.stderr)
    return {"scale": args.scale, "records": n, "load": os.getloadavg(),
            "median": {k: statistics.median(r["rate"] for r in v) for k, v in out.items()},
            "runs": out}


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.copy_w1", description=__doc__)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--dir", default="/tmp/copy_w1")
    ap.add_argument("--scale", type=float, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    report = asyncio.run(run(args))
    print(f"W1 scale {args.scale:g} copy, {report['records']} records, median of {args.repeat}"
          f" (load {', '.join(f'{x:.1f}' for x in report['load'])})")
    for k, v in report["median"].items():
        print(f"| {k} | {v:,.0f} records/s |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
