"""Profile agent-storage per W1 phase: `python -m benchmarks.w1.profile --url URL [--scale N]`.

Runs only "ours" on fresh storage and prints one pyinstrument tree per phase (A..D), so the
time spent in SQL compilation, serde, record validation, the domain layer or the driver shows.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from .backends import make_backend
from .data import generate
from .ours import Ours


async def _profile(url: str, scale: float, phases: str, out: str | None, loops_n: int = 1) -> None:
    from pyinstrument import Profiler

    data = generate(scale)
    backend = make_backend(url)
    slot = await backend.slot(0)
    target = Ours(slot.ours_url)
    await target.open()
    try:
        for t in data.threads:
            await target.create_thread(t)
        msgs = data.messages
        by_id = data.position
        loops: dict[str, Any] = {
            "A": lambda: [target.write(msgs[s : s + c]) for s, c in data.batches],
            "B": lambda: [target.last(t.id, 20) for t in data.threads],
            "C": lambda: [target.list_threads(u, 10) for u in data.users],
            "D": lambda: [
                target.window(m, data.threads[by_id[m][0]].id, 2, 2) for m in data.context_picks
            ],
        }
        for phase in "ABCD":
            calls = loops[phase]()
            if phase != "A":
                calls += [c for _ in range(loops_n - 1) for c in loops[phase]()]
            prof = Profiler(interval=0.0005, async_mode="disabled")
            t0 = time.perf_counter()
            if phase in phases:
                prof.start()
            for c in calls:
                await c
            el = time.perf_counter() - t0
            if phase in phases:
                prof.stop()
                print(
                    f"===== phase {phase}: {len(calls)} calls, {el:.3f}s "
                    f"({el / len(calls) * 1e6:.0f} us/call)"
                )
                text = prof.output_text(unicode=False, color=False, show_all=False)
                print(text)
                if out:
                    _write(f"{out}.{phase}.html", prof.output_html())
    finally:
        await target.close()
        await backend.release(slot)


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.w1.profile")
    ap.add_argument("--url", required=True)
    ap.add_argument("--scale", type=float, default=1)
    ap.add_argument("--phases", default="ABCD")
    ap.add_argument("--loops", type=int, default=1, help="repeat the B/C/D calls N times")
    ap.add_argument("--html", help="also write <prefix>.<phase>.html")
    args = ap.parse_args()
    asyncio.run(_profile(args.url, args.scale, args.phases, args.html, args.loops))


if __name__ == "__main__":
    main()
