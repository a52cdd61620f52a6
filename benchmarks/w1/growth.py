"""B/D per-call time at two scales, side by side: `python -m benchmarks.w1.growth --url URL`.

    python -m benchmarks.w1.growth --url sqlite:////tmp/w1g/w1.db [--small 1] [--large 10]

Fills four fresh stores once (raw and ours at `--small` and at `--large` scale, W1 phase A
untimed), then times W1 phases B and D on all four in alternating slices of equal size,
`--repeat` times, and reports per-call medians and the large/small ratio. Alternating
the SAME process over both sizes keeps machine load out of the ratio, which two separate
runs at different times cannot on a shared box. Reads do not change the stores, so the
repetitions reuse them.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
from typing import Any

from .backends import make_backend
from .data import generate
from .ours import Ours
from .phases import _phase_calls

PHASES = ("B", "D")


async def _fill(target: Any, data: Any) -> None:
    for t in data.threads:
        await target.create_thread(t)
    msgs = data.messages
    for start, count in data.batches:
        await target.write(msgs[start : start + count])


async def run(args: argparse.Namespace) -> dict[str, Any]:
    sizes = {"small": generate(args.small), "large": generate(args.large)}
    gc.collect()
    gc.freeze()  # harness data, not the targets' (see the runner)
    backend = make_backend(args.url)
    slots = {name: await backend.slot(n) for n, name in enumerate(sizes)}
    targets: dict[tuple[str, str], Any] = {}
    try:
        for name, slot in slots.items():
            targets[("raw", name)] = slot.raw
            targets[("ours", name)] = Ours(slot.ours_url)
        for (side, name), target in targets.items():
            await target.open()
            t0 = time.perf_counter()
            await _fill(target, sizes[name])
            print(
                f"filled {side} {name} ({len(sizes[name].messages):,} messages)"
                f" in {time.perf_counter() - t0:.0f}s",
                file=sys.stderr,
            )
        plans = {key: _phase_calls(t, sizes[key[1]]) for key, t in targets.items()}
        per_call: dict[str, dict[str, list[float]]] = {
            p: {f"{s}/{n}": [] for s, n in targets} for p in PHASES
        }
        for rep in range(args.repeat):
            for p in PHASES:
                elapsed = dict.fromkeys(targets, 0.0)
                keys = list(targets)
                # Equal-sized slices on every store: the first call after switching stores
                # meets colder caches, so slices of different sizes would bias the ratio.
                size = args.per_slice
                c = 0
                while any(c * size < len(plans[k][p]) for k in keys):
                    order = keys if c % 2 == 0 else keys[::-1]
                    for key in order:
                        calls = plans[key][p][c * size : (c + 1) * size]
                        if not calls:
                            continue
                        t0 = time.perf_counter()
                        for call in calls:
                            await call()
                        elapsed[key] += time.perf_counter() - t0
                    c += 1
                for key in keys:
                    n = len(plans[key][p])
                    per_call[p][f"{key[0]}/{key[1]}"].append(elapsed[key] / n * 1e6)
            print(f"repeat {rep + 1}/{args.repeat} done", file=sys.stderr)
    finally:
        for target in targets.values():
            await target.close()
        for slot in slots.values():
            await backend.release(slot)
    med = {p: {k: statistics.median(v) for k, v in d.items()} for p, d in per_call.items()}
    return {
        "backend": backend.kind,
        "small": args.small,
        "large": args.large,
        "messages": {k: len(v.messages) for k, v in sizes.items()},
        "repeat": args.repeat,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "per_call_us": per_call,
        "median_us": med,
    }


def render(r: dict[str, Any]) -> str:
    m = r["messages"]
    lines = [
        f"Growth on {r['backend']}: scale {r['small']:g} ({m['small']:,} messages) vs"
        f" {r['large']:g} ({m['large']:,}), same process, alternating slices,"
        f" median of {r['repeat']}",
        "",
        "| phase | side | us/call small | us/call large | large/small |",
        "|---|---|---:|---:|---:|",
    ]
    for p in PHASES:
        for side in ("ours", "raw"):
            a, b = r["median_us"][p][f"{side}/small"], r["median_us"][p][f"{side}/large"]
            lines.append(f"| {p} | {side} | {a:,.0f} | {b:,.0f} | {b / a:.2f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.w1.growth", description=__doc__)
    ap.add_argument("--url", required=True)
    ap.add_argument("--small", type=float, default=1)
    ap.add_argument("--large", type=float, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--per-slice", type=int, default=10, help="calls per alternating slice")
    ap.add_argument("--json")
    args = ap.parse_args()
    report = asyncio.run(run(args))
    print(render(report))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
