"""The four timed W1 phases, run against any `Target` (raw driver or agent-storage).

Targets return decoded native objects (JSON content parsed); the checks here only read `.id`
(and `.updated_at` for threads), so they cost the same for every target.
"""

from __future__ import annotations

import gc
import itertools
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
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
    return (await run_interleaved([target], data, chunks=1))[0]


def _phase_calls(target: Target, data: W1Data) -> dict[str, list[Callable[[], Awaitable[None]]]]:
    """Per phase, one zero-argument coroutine function per call, each checking its result."""
    msgs = data.messages
    by_id = data.position

    def create(t: W1Thread) -> Callable[[], Awaitable[None]]:
        return lambda: target.create_thread(t)

    def write(start: int, count: int) -> Callable[[], Awaitable[None]]:
        batch = msgs[start : start + count]
        return lambda: target.write(batch)

    def last(j: int, t: W1Thread) -> Callable[[], Awaitable[None]]:
        async def call() -> None:
            items = await target.last(t.id, 20)
            _expect("B", [m.id for m in items], data.expected_last(j), t.id)

        return call

    def listing(user: str) -> Callable[[], Awaitable[None]]:
        async def call() -> None:
            _check_threads(user, await target.list_threads(user, 10))

        return call

    def window(mid: str) -> Callable[[], Awaitable[None]]:
        tid = data.threads[by_id[mid][0]].id

        async def call() -> None:
            items = await target.window(mid, tid, 2, 2)
            _expect("D", [m.id for m in items], data.expected_window(mid), mid)

        return call

    return {
        "threads": [create(t) for t in data.threads],
        "A": [write(s, c) for s, c in data.batches],
        "B": [last(j, t) for j, t in enumerate(data.threads)],
        "C": [listing(u) for u in data.users],
        "D": [window(m) for m in data.context_picks],
    }


async def run_interleaved(
    targets: Sequence[Target], data: W1Data, chunks: int = 10
) -> list[dict[str, float]]:
    """Run every phase on every target, the calls of a phase cut into `chunks` slices that
    alternate between the targets (each target's own calls stay in W1 order).

    On a shared, loaded machine the load drifts within seconds; alternating slices exposes
    raw and ours to the same drift, so their ratio is steadier than with whole runs back to
    back. The clock only runs during a target's own slice. Rates: A msgs/s, others calls/s.
    """
    perf, cpu_time = time.perf_counter, time.process_time
    plans = [_phase_calls(t, data) for t in targets]
    per_call = len(data.messages) / len(data.batches)  # A is reported in messages/s
    units = {"threads": 1.0, "A": per_call, "B": 1.0, "C": 1.0, "D": 1.0}
    rates: list[dict[str, float]] = [{} for _ in targets]
    for phase in PHASES:
        n = len(plans[0][phase])
        size = max(1, -(-n // chunks))
        elapsed = [0.0] * len(targets)
        cpu = [0.0] * len(targets)
        sent = [_sent(t) for t in targets]
        for c, lo in enumerate(range(0, n, size)):
            # alternate who goes first, so neither always runs right after the other
            order = range(len(targets)) if c % 2 == 0 else reversed(range(len(targets)))
            for i in order:
                calls = plans[i][phase][lo : lo + size]
                if c == 0:
                    gc.collect()  # each target starts the phase with no garbage of the last
                t0, c0 = perf(), cpu_time()
                for call in calls:
                    await call()
                elapsed[i] += perf() - t0
                cpu[i] += cpu_time() - c0
        for i in range(len(targets)):
            rates[i][phase] = n * units[phase] / elapsed[i]
            # diagnostic: this process's CPU (all threads: aiosqlite's too) per call, in us
            rates[i]["cpu_us:" + phase] = cpu[i] / n * 1e6
            after, before = _sent(targets[i]), sent[i]
            if after is not None and before is not None:
                # DynamoDB: requests per call, by operation
                for op, k in (after - before).items():
                    rates[i][f"req:{phase}:{op}"] = k / n
    return rates


def _sent(target: Target) -> Counter[str] | None:
    counts = getattr(target, "requests", None)
    return None if counts is None else Counter(counts)


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
