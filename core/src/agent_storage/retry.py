"""The one retry-with-backoff policy of agent-storage and its plugins.

A backend retries an operation that failed for a reason a retry can cure (a busy SQLite
database, a lost connection, DynamoDB throttling) with :class:`RetryPolicy`::

    from agent_storage.retry import RetryPolicy

    policy = RetryPolicy(attempts=5, base=0.01, cap=2.0, jitter="full")
    rows = await policy.run(lambda: fetch_rows(), retry_if=is_busy)

``attempts`` counts every try, the first included, so ``attempts=1`` never retries.
The delay before retry number ``n`` (0-based) grows as ``base * 2**n``, capped at ``cap``,
and is then spread by the jitter so that many clients failing together do not retry in
lock-step:

* ``"full"`` -- uniform in ``[0, delay]`` (AWS's recommendation for contended services);
* ``"equal"`` -- uniform in ``[delay/2, 3*delay/2]`` (never much shorter than planned);
* ``"none"`` -- exactly ``delay`` (tests, deterministic tools).

Cancellation is never retried: a ``CancelledError`` (a ``BaseException``) propagates at
once, also while the policy is sleeping.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable, Iterator
from typing import Literal, TypeVar

from attrs import field, frozen, validators

__all__ = ["Jitter", "RetryPolicy"]

T = TypeVar("T")
Jitter = Literal["full", "equal", "none"]


def _positive(_: object, attribute: object, value: float) -> None:
    if value < 0:
        name = getattr(attribute, "name", "value")
        raise ValueError(f"{name} must be >= 0, got {value!r}")


@frozen(kw_only=True)
class RetryPolicy:
    """Exponential backoff with jitter; see the module docstring for the exact delays."""

    attempts: int = field(default=10, validator=[validators.instance_of(int),
                                                 validators.ge(1)])
    base: float = field(default=0.02, validator=_positive)
    cap: float = field(default=2.0, validator=_positive)
    jitter: Jitter = field(default="full", validator=validators.in_(("full", "equal", "none")))

    def delay(self, attempt: int) -> float:
        """Seconds to sleep after failed try ``attempt`` (0-based), jitter applied."""
        planned = min(self.cap, math.ldexp(self.base, min(attempt, 62)))  # base * 2**attempt
        if self.jitter == "full":
            return random.uniform(0, planned)
        if self.jitter == "equal":
            return planned * (0.5 + random.random())
        return planned

    def delays(self) -> Iterator[float]:
        """The sleeps between the tries: ``attempts - 1`` of them."""
        for attempt in range(self.attempts - 1):
            yield self.delay(attempt)

    async def run(
        self,
        operation: Callable[[], Awaitable[T]],
        *,
        retry_if: Callable[[Exception], bool],
        on_retry: Callable[[Exception, int, float], None] | None = None,
    ) -> T:
        """Await ``operation()`` until it succeeds, at most ``attempts`` times.

        An exception for which ``retry_if`` is false, or the last try's exception, is
        raised unchanged. ``on_retry(exc, attempt, delay)`` is called before each sleep
        (for logging). ``operation`` must be safe to run again after a failure.
        """
        attempt = 0
        while True:
            try:
                return await operation()
            except Exception as exc:
                if attempt + 1 >= self.attempts or not retry_if(exc):
                    raise
                delay = self.delay(attempt)
                if on_retry is not None:
                    on_retry(exc, attempt, delay)
                attempt += 1
                await asyncio.sleep(delay)
