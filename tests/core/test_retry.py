"""The one retry policy (``agent_storage.retry``): how often, how long, what is retried."""

from __future__ import annotations

import asyncio

import pytest
from agent_storage.retry import RetryPolicy


class Busy(Exception):
    pass


def test_delays_grow_are_capped_and_jittered() -> None:
    exact = RetryPolicy(attempts=6, base=0.1, cap=0.5, jitter="none")
    assert list(exact.delays()) == [0.1, 0.2, 0.4, 0.5, 0.5]
    full = RetryPolicy(base=0.1, cap=0.5, jitter="full")
    equal = RetryPolicy(base=0.1, cap=0.5, jitter="equal")
    for _ in range(200):
        assert 0 <= full.delay(3) <= 0.5
        assert 0.25 <= equal.delay(3) <= 0.75
    assert RetryPolicy(base=1.0, cap=2.0, jitter="none").delay(10_000) == 2.0


@pytest.mark.parametrize("bad", [{"attempts": 0}, {"base": -1.0}, {"cap": -0.5},
                                 {"jitter": "sometimes"}, {"attempts": 2.5}])
def test_bad_settings_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises((ValueError, TypeError)):
        RetryPolicy(**bad)  # type: ignore[arg-type]


async def test_run_retries_what_retry_if_accepts_until_it_succeeds() -> None:
    calls: list[int] = []
    seen: list[tuple[int, float]] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise Busy
        return "ok"

    policy = RetryPolicy(attempts=5, base=0.0, jitter="none")
    result = await policy.run(flaky, retry_if=lambda e: isinstance(e, Busy),
                              on_retry=lambda e, n, d: seen.append((n, d)))
    assert result == "ok" and len(calls) == 3 and seen == [(0, 0.0), (1, 0.0)]


async def test_run_gives_up_after_attempts_and_never_retries_other_errors() -> None:
    calls: list[int] = []

    async def always(exc: Exception) -> None:
        calls.append(1)
        raise exc

    policy = RetryPolicy(attempts=3, base=0.0)
    with pytest.raises(Busy):
        await policy.run(lambda: always(Busy()), retry_if=lambda e: isinstance(e, Busy))
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(KeyError):
        await policy.run(lambda: always(KeyError("x")), retry_if=lambda e: isinstance(e, Busy))
    assert len(calls) == 1


async def test_cancellation_during_the_backoff_is_not_retried() -> None:
    started = asyncio.Event()

    async def busy() -> None:
        started.set()
        raise Busy

    policy = RetryPolicy(attempts=5, base=60.0, cap=60.0, jitter="none")
    task = asyncio.ensure_future(policy.run(busy, retry_if=lambda e: True))
    await started.wait()
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
