"""Render saved runner reports: `python -m benchmarks.w1.report RUN.json [...]`.

python -m benchmarks.w1.report pg1.json sqlite1.json            # one table per report
python -m benchmarks.w1.report --growth pg1.json pg10.json       # B/D per-call growth
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from .__main__ import render


def _load(path: str) -> dict[str, Any]:
    with open(path) as f:
        return json.load(f)  # type: ignore[no-any-return]


def growth(small: dict[str, Any], large: dict[str, Any]) -> str:
    """Per-call time of B and D at two scales (ours and raw), and the ratio large/small."""
    lines = [
        f"Growth on {small['backend']}: scale {small['scale']:g} -> {large['scale']:g}"
        " (per-call time, median)",
        "",
        "| phase | side | us/call small | us/call large | large/small |",
        "|---|---|---:|---:|---:|",
    ]
    for p in ("B", "D"):
        for side in ("ours", "raw"):
            a, b = small["median"][p][side], large["median"][p][side]
            if a is None or b is None:
                continue
            lines.append(f"| {p} | {side} | {1e6 / a:,.0f} | {1e6 / b:,.0f} | {a / b:.2f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.w1.report")
    ap.add_argument("files", nargs="+")
    ap.add_argument("--growth", action="store_true", help="two files: small then large scale")
    args = ap.parse_args()
    reports = [_load(f) for f in args.files]
    if args.growth:
        print(growth(reports[0], reports[1]))
        return
    for r in reports:
        print(f"{r['date']}, {r.get('mode', 'sequential')}, env {json.dumps(r['env'])}\n")
        print(render(r))
        print()


if __name__ == "__main__":
    main()
