"""The four timed W1 phases, run against any `Target` (raw driver or agent-storage).

Targets return decoded native objects (JSON content parsed); the checks here only read `.id`
(and `.updated_at` for threads), so they cost the same for every target.
"""

from __future__ import annotations

import gc
import itertools
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from .data import W1Data, W1Message, W1Thread

PHASES = ("threads", "A", "B", "C", "D")
UNITS = {"threads": "calls/s", "A": "msgs/s", "B": "calls/s", "C": "calls/s", "D": "calls/s"}
TITLES = {
    "threads": "create threads (aside)",
    "A": "A write 20-msg batches",
    "B": "B last 20",
    "C": "C list threads",
    "D": "D include window",
}


class HasId(Protocol):
    @property
    def id(self) -> str: ...


class HasUpdatedAt(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def updated_at(self) -> datetime: ...


class Target(Protocol):
    """One system under test, opened on a fresh database/table."""

    name: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def create_thread(self, t: W1Thread) -> None: ...

    async def write(self, msgs: Sequence[W1Message]) -> None:
        """Save the batch atomically and bump its thread's updated_at."""

    async def last(self, thread_id: str, n: int) -> Sequence[HasId]:
        """The last `n` messages of the thread, chronological."""

    async def list_threads(self, resource_id: str, n: int) -> Sequence[HasUpdatedAt]:
        """Page 1 (size `n`) of the resource's threads, updated_at descending."""

    async def window(
        self, message_id: str, thread_id: str, before: int, after: int
    ) -> Sequence[HasId]:
        """The message with `before` earlier and `after` later ones, chronological."""


class CheckError(AssertionError):
    pass


def _expect(phase: str, got: list[str], want: list[str], key: str) -> None:
    if got != want:
        raise CheckError(f"phase {phase} ({key}): got {got}, expected {want}")


async def run_phases(target: Target, data: W1Data) -> dict[str, float]:
    """Run setup + A..D sequentially; returns rates (A: msgs/s, others: calls/s)."""
    rates: dict[str, float] = {}
    perf = time.perf_counter

    gc.collect()
    t0 = perf()
    for t in data.threads:
        await target.create_thread(t)
    rates["threads"] = len(data.threads) / (perf() - t0)

    msgs = data.messages
    gc.collect()
    t0 = perf()
    for start, count in data.batches:
        await target.write(msgs[start : start + count])
    rates["A"] = len(msgs) / (perf() - t0)

    gc.collect()
    t0 = perf()
    for j, t in enumerate(data.threads):
        items = await target.last(t.id, 20)
        _expect("B", [m.id for m in items], data.expected_last(j), t.id)
    rates["B"] = len(data.threads) / (perf() - t0)

    gc.collect()
    t0 = perf()
    for user in data.users:
        threads = await target.list_threads(user, 10)
        _check_threads(user, threads)
    rates["C"] = len(data.users) / (perf() - t0)

    by_id = data.position
    gc.collect()
    t0 = perf()
    for mid in data.context_picks:
        items = await target.window(mid, data.threads[by_id[mid][0]].id, 2, 2)
        _expect("D", [m.id for m in items], data.expected_window(mid), mid)
    rates["D"] = len(data.context_picks) / (perf() - t0)
    return rates


def _check_threads(user: str, threads: Sequence[Any]) -> None:
    # Every thread of the user, newest update first. The exact order among threads is not
    # asserted: clocks with millisecond resolution may tie.
    i = int(user.rsplit("-", 1)[1])
    want = {f"thread-{j}" for j in range(4 * i, 4 * i + 4)}
    ids = [t.id for t in threads]
    if len(ids) != 4 or set(ids) != want:
        raise CheckError(f"phase C ({user}): got {ids}, expected {sorted(want)}")
    stamps = [t.updated_at for t in threads]
    if any(a < b for a, b in itertools.pairwise(stamps)):
        raise CheckError(f"phase C ({user}): not ordered by updated_at desc: {stamps}")
