"""W1 runner: `python -m benchmarks.w1 --url URL [--scale N] [--repeat 3] [--json FILE]`.

Each repetition gets fresh storage, runs the phases with the raw driver, then with
agent-storage, and the report gives per phase the median rates and the median ratio ours/raw.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from importlib import metadata
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from .backends import make_backend, start_moto
from .data import check, generate
from .ours import Ours
from .phases import PHASES, TITLES, UNITS, Target, run_interleaved, run_phases


async def _measure(target: Target, data: Any) -> dict[str, float]:
    await target.open()
    try:
        return await run_phases(target, data)
    finally:
        await target.close()


async def _repetition(slot: Any, data: Any, args: argparse.Namespace) -> dict[str, Any]:
    """One repetition: {"raw": rates, "ours": rates, "extra": {baseline name: rates}}."""
    extra: list[Any] = list(slot.extra)
    if args.raw_only:
        out = {"raw": await _measure(slot.raw, data)}
        if extra:
            out["extra"] = {t.name: await _measure(t, data) for t in extra}
        return out
    ours = Ours(slot.ours_url)
    if args.sequential:
        out = {"raw": await _measure(slot.raw, data)}
        if extra:
            out["extra"] = {t.name: await _measure(t, data) for t in extra}
        out["ours"] = await _measure(ours, data)
        return out
    targets = [slot.raw, *extra, ours]
    opened: list[Any] = []
    try:
        for t in targets:
            await t.open()
            opened.append(t)
        rates = await run_interleaved(targets, data, args.slices)
    finally:
        for t in reversed(opened):
            await t.close()
    out = {"raw": rates[0], "ours": rates[-1]}
    if extra:
        out["extra"] = {t.name: r for t, r in zip(extra, rates[1:-1], strict=True)}
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    data = generate(args.scale)
    check(data)
    # The dataset is the harness's, not the target's: freeze it out of the collector so a
    # full collection costs the same at every scale and whichever target triggers it.
    gc.collect()
    gc.freeze()
    print(
        f"W1 scale {args.scale:g}: {len(data.threads)} threads, {len(data.messages)} messages"
        f" (generated in {time.perf_counter() - t0:.2f}s)",
        file=sys.stderr,
    )
    backend = make_backend(args.url, args.pg_write)
    backend.sync_api = args.sync_api
    runs: list[dict[str, Any]] = []
    for n in range(args.repeat):
        slot = await backend.slot(n)
        try:
            result = await _repetition(slot, data, args)
        finally:
            await backend.release(slot)
        runs.append(result)
        print(f"repeat {n + 1}/{args.repeat}: {_brief(result)}", file=sys.stderr)
    return {
        "workload": "W1",
        "url": _redact(args.url),
        "backend": backend.kind,
        "raw_driver": getattr(slot.raw, "name", "raw"),
        "extra_drivers": [getattr(t, "name", "raw") for t in slot.extra],
        "scale": args.scale,
        "repeat": args.repeat,
        "mode": "sequential" if args.sequential else f"interleaved, {args.slices} slices",
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "env": _env(),
        "runs": runs,
        "median": _medians(runs),
        "requests": {
            side: {p: _requests(runs, side, p) for p in PHASES} for side in ("ours", "raw")
        }
        if backend.kind == "dynamodb"
        else None,
    }


def _medians(runs: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Per phase: median rates, the median per-repetition ratio ours/raw, and per extra
    baseline its median rate ("extra:NAME") and ratio ours/it ("ratio:NAME")."""
    out: dict[str, dict[str, float | None]] = {}
    for p in PHASES:
        raw = [r["raw"][p] for r in runs]
        ours = [r["ours"][p] for r in runs if "ours" in r]
        # ratio per repetition (same run, same machine state), then the median of those
        ratios = [r["ours"][p] / r["raw"][p] for r in runs if "ours" in r]
        out[p] = {
            "raw": statistics.median(raw),
            "ours": statistics.median(ours) if ours else None,
            "ratio": statistics.median(ratios) if ratios else None,
        }
        for name in runs[0].get("extra", {}):
            base = [r["extra"][name][p] for r in runs]
            out[p]["extra:" + name] = statistics.median(base)
            if ours:
                out[p]["ratio:" + name] = statistics.median(
                    r["ours"][p] / r["extra"][name][p] for r in runs
                )
        key = "cpu_us:" + p
        if all(key in r["raw"] for r in runs):
            out[p]["raw_cpu_us"] = statistics.median(r["raw"][key] for r in runs)
            if ours:
                out[p]["ours_cpu_us"] = statistics.median(r["ours"][key] for r in runs)
    return out


def _requests(runs: list[dict[str, Any]], side: str, phase: str) -> dict[str, float]:
    """Median requests per call of one phase, by operation (DynamoDB runs only)."""
    prefix = f"req:{phase}:"
    ops = {k[len(prefix) :] for r in runs for k in r.get(side, {}) if k.startswith(prefix)}
    return {
        op: statistics.median(r[side].get(f"req:{phase}:{op}", 0.0) for r in runs if side in r)
        for op in sorted(ops)
    }


def render(report: dict[str, Any]) -> str:
    raw_name = report["raw_driver"]
    extras: list[str] = report.get("extra_drivers", [])
    lines = [
        f"W1 on {report['backend']} (scale {report['scale']:g}, median of {report['repeat']}),"
        f" raw = {raw_name}" + "".join(f", {e}" for e in extras),
        "",
        f"| phase | unit | ours | raw {raw_name} | ratio ours/raw"
        + "".join(f" | raw {e} | ratio ours/{e}" for e in extras)
        + " | raw per repeat | CPU us/call ours / raw |",
        "|---|---|---:|---:|---:" + "|---:|---:" * len(extras) + "|---|---|",
    ]
    for p in PHASES:
        m = report["median"][p]
        ours = f"{m['ours']:,.0f}" if m["ours"] is not None else "-"
        ratio = f"{m['ratio']:.2f}" if m["ratio"] is not None else "-"
        more = ""
        for e in extras:
            r = m.get("ratio:" + e)
            more += f" | {m['extra:' + e]:,.0f} | {f'{r:.2f}' if r is not None else '-'}"
        each = ", ".join(f"{r['raw'][p]:,.0f}" for r in report["runs"])
        cpu = "-"
        if m.get("raw_cpu_us") is not None:
            cpu = f"{m.get('ours_cpu_us') or 0:,.0f} / {m['raw_cpu_us']:,.0f}"
        lines.append(
            f"| {TITLES[p]} | {UNITS[p]} | {ours} | {m['raw']:,.0f} | {ratio}{more}"
            f" | {each} | {cpu} |"
        )
    reqs = report.get("requests")
    if reqs:
        lines += [
            "",
            "DynamoDB requests per call (median), by operation:",
            "",
            "| phase | ours | raw |",
            "|---|---|---|",
        ]
        for p in PHASES:

            def fmt(d: dict[str, float]) -> str:
                total = sum(d.values())
                return f"{total:g} ({', '.join(f'{k} {v:g}' for k, v in d.items())})" if d else "-"

            lines.append(f"| {TITLES[p]} | {fmt(reqs['ours'][p])} | {fmt(reqs['raw'][p])} |")
    return "\n".join(lines)


def _brief(result: dict[str, Any]) -> str:
    parts = []
    for p in PHASES[1:]:
        s = f"{p} raw {result['raw'][p]:,.0f}"
        if "ours" in result:
            s += f" ours {result['ours'][p]:,.0f}"
        parts.append(s)
    return "; ".join(parts)


def _env() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for dist in ("agent-storage", "asyncpg", "aiosqlite", "aiobotocore", "moto"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "commit": _commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "versions": versions,
    }


def _commit() -> str | None:
    """HEAD of the checkout measured, with "+dirty" when tracked files differ from it."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        head = subprocess.run(
            ["git", "-C", root, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _with_endpoint(url: str, endpoint: str) -> str:
    parts = urlsplit(url)
    q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    q["endpoint_url"] = endpoint
    q.setdefault("region", "us-east-1")
    return urlunsplit(parts._replace(query=urlencode(q)))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.w1", description=__doc__)
    ap.add_argument("--url", required=True, help="postgresql://..., sqlite:///x.db, dynamodb://T")
    ap.add_argument("--scale", type=float, default=1, help="multiplies users/threads/picks")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", help="write every number here")
    ap.add_argument("--raw-only", action="store_true", help="skip agent-storage")
    ap.add_argument(
        "--pg-write",
        choices=("tx", "cte"),
        default="tx",
        help="raw pg write: BEGIN/INSERT unnest/UPDATE/COMMIT, or one CTE statement",
    )
    ap.add_argument(
        "--sequential",
        action="store_true",
        help="run all raw phases, then all ours (default: alternate slices of each phase)",
    )
    ap.add_argument(
        "--slices",
        type=int,
        default=50,
        help="interleaved mode: slices per phase and target (C has 50 calls: 1 per slice)",
    )
    ap.add_argument(
        "--sync-api",
        action="store_true",
        help="also run agent-storage's blocking facade (agent_storage.sync) on its own store;"
        " the report's ours/sync is async calls/s over blocking calls/s",
    )
    ap.add_argument("--start-moto", action="store_true", help="run a moto server for dynamodb")
    args = ap.parse_args(argv)

    moto = None
    if args.start_moto:
        endpoint = parse_qs(urlsplit(args.url).query).get("endpoint_url", [None])[-1]
        moto, endpoint = start_moto(endpoint)
        # moto accepts any credentials; ours uses the standard AWS chain
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        args.url = _with_endpoint(args.url, endpoint)
    try:
        report = asyncio.run(run(args))
    finally:
        if moto is not None:
            moto.terminate()
            try:
                moto.wait(5)
            except subprocess.TimeoutExpired:
                moto.kill()
    print(render(report))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
