"""Peak RSS while streaming every message of a store: `python -m benchmarks.stream_rss`.

    python -m benchmarks.stream_rss --url sqlite:////tmp/w1s/s.db --scale 10
    python -m benchmarks.stream_rss --url postgresql://postgres@127.0.0.1:5432/w1stream --scale 10

Fills the store with the W1 data at ``--scale`` (10 = 200,000 messages; skipped with
``--no-fill`` when it is already there), then, in a FRESH child process (so neither the
generated data nor the fill is counted), opens the store, reads one page to load the
driver, and streams every message: ``async for thread in memory.threads()`` and, per
thread, ``list_messages`` page by page. Reported: the child's RSS before streaming, its
peak RSS (VmHWM) after, the growth, and how many messages/bytes went by.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from typing import Any


async def stream_all(memory: Any, per_page: int = 100) -> tuple[int, int, int]:
    """Visit every message once, holding one page at a time.

    Returns (threads, messages, content bytes) -- counters only, nothing retained."""
    threads = messages = size = 0
    async for thread in memory.threads():
        threads += 1
        page_no = 0
        while True:
            page = await memory.list_messages(
                thread.id, page=page_no, per_page=per_page, with_total=False
            )
            for m in page.items:
                messages += 1
                size += len(json.dumps(m.content))
            if not page.has_more:
                break
            page_no += 1
    return threads, messages, size


def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


async def _child(url: str) -> dict[str, Any]:
    import agent_storage

    async with agent_storage.open_store(url) as store:
        await store.memory.list_threads(per_page=1)  # drivers, pool and statements loaded
        before = _rss_kb("VmRSS")
        t0 = time.perf_counter()
        threads, messages, size = await stream_all(store.memory)
        elapsed = time.perf_counter() - t0
        peak = _rss_kb("VmHWM")
    return {
        "threads": threads,
        "messages": messages,
        "content_bytes": size,
        "seconds": round(elapsed, 2),
        "rss_before_mb": round(before / 1024, 1),
        "rss_peak_mb": round(peak / 1024, 1),
        "rss_growth_mb": round((peak - before) / 1024, 1),
    }


async def _fill(url: str, scale: float) -> int:
    import agent_storage

    from .w1.data import generate

    data = generate(scale)
    async with agent_storage.open_store(url, fresh=True) as store:
        mem = store.memory
        for t in data.threads:
            await mem.save_thread(
                agent_storage.Thread(
                    id=t.id,
                    resource_id=t.resource_id,
                    title=t.title,
                    metadata={"n": t.n},
                    created_at=t.created_at,
                )
            )
        msgs = data.messages
        for start, count in data.batches:
            await mem.save_messages(
                [
                    agent_storage.Message(
                        id=m.id,
                        thread_id=m.thread_id,
                        role=m.role,
                        content=m.content,
                        resource_id=m.resource_id,
                        created_at=m.created_at,
                    )
                    for m in msgs[start : start + count]
                ]
            )
    return len(msgs)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.stream_rss", description=__doc__)
    ap.add_argument("--url", required=True)
    ap.add_argument("--scale", type=float, default=10)
    ap.add_argument("--no-fill", action="store_true", help="the store already holds the data")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(_child(args.url))))
        return
    if not args.no_fill:
        t0 = time.perf_counter()
        n = asyncio.run(_fill(args.url, args.scale))
        print(f"filled {n:,} messages in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.stream_rss", "--url", args.url, "--child"],
        check=True,
        capture_output=True,
        text=True,
        env=os.environ.copy(),
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
