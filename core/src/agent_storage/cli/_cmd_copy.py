"""``agent-storage copy SRC DST [--domains D1,D2] [--batch-size N] [--no-verify]
[--embedder EMBEDDER]``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._common import EXIT_OK, positive_int
from ._output import Output
from ._registry import Command


def _domains(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", metavar="SRC")
    p.add_argument("dst", metavar="DST")
    p.add_argument("--domains", type=_domains, metavar="D1,D2",
                   help="only these domains (memory, workflows, scores, observability, agents)")
    p.add_argument("--batch-size", type=positive_int, default=500, metavar="N",
                   help="records per read and write (default 500)")
    p.add_argument("--verify", action=argparse.BooleanOptionalAction, default=True,
                   help="compare counts and checksums at the end (default: yes)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars (default: when stderr is a terminal)")
    p.add_argument("--embedder", metavar="EMBEDDER",
                   help="open both stores with this embedder (as `agent-storage embed`) so "
                   "message vectors are copied as stored; it is not called. Without it "
                   "DST gets the messages only")
    p.add_argument("--into-non-empty", action="store_true",
                   help="copy even if DST already holds records (resume an interrupted copy, "
                   "or merge); by default a non-empty DST is refused before writing")


async def _run(args: argparse.Namespace, out: Output) -> int:
    from ..copy import CopyVerificationError, copy_store

    show = sys.stderr.isatty() if args.progress is None else args.progress
    src, dst = args.src, args.dst
    if args.embedder:  # vectors go with their messages only between stores with one
        from .._cache import open_store
        from ._cmd_embed import load_embedder

        embedder = load_embedder(args.embedder)
        src = open_store(args.src, fresh=True, embedder=embedder)
        dst = open_store(args.dst, fresh=True, embedder=embedder)
    try:
        report = await copy_store(
            src, dst, domains=args.domains, batch_size=args.batch_size,
            progress="rich" if show else None, verify=args.verify,
            allow_non_empty=args.into_non_empty,
        )
    except CopyVerificationError as exc:
        _print(out, exc.report, args.json)
        raise
    finally:
        for store in (src, dst):
            if not isinstance(store, str):
                await store.close()
    _print(out, report, args.json)
    return EXIT_OK


def _print(out: Output, report: Any, as_json: bool) -> None:
    if not as_json:
        out.write(report.summary() + "\n")
        return
    import attrs

    out.json({"ok": report.ok, "verified": report.verified, "copied": report.copied,
              "seconds": round(report.seconds, 3),
              "kinds": [attrs.asdict(k) | {"ok": k.ok} for k in report.kinds]})


COMMAND = Command(
    name="copy", help="copy every record from SRC to DST (resumable, verified)",
    description="Stream every record of every domain from SRC to DST in bounded memory. "
    "Writes are upserts, so an interrupted copy resumes by running it again; at the end "
    "per-domain counts and content checksums are compared (exit 1 on any difference).",
    arguments=_arguments, run=_run, json=True,
)
