"""What every domain shares: lazy init, error wrapping, argument checks and paging.

A domain's public methods are concrete and live in core: they validate and normalise
arguments (so every backend refuses bad input identically, before anything is written),
wait for the store to be initialised, and call the backend's protected primitives
(``_save_messages`` and friends). A driver exception escaping a primitive is wrapped in
:class:`~agent_storage.errors.BackendError` with the original as ``__cause__``.
"""

from __future__ import annotations

import datetime as _dt
import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from ..errors import AgentStorageError, BackendError, ValidationError
from ..records import Page
from ..serde import check_id, check_json, check_text, to_utc

if TYPE_CHECKING:
    from ..storage import Storage

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

__all__ = ["Domain", "public"]


class Domain:
    """Base of the five domain contracts."""

    #: The domain's name: memory, workflows, scores, observability or agents.
    name: str = ""

    _storage: Storage | None = None

    def attach(self, storage: Storage) -> None:
        """Called by Storage when it hands the domain out: lazy init and observer hooks go
        through ``storage`` (a domain never attached works without them)."""
        self._storage = storage

    async def _ready(self) -> None:
        if self._storage is not None:
            await self._storage.ready()

    def _translate_error(self, exc: BaseException) -> AgentStorageError:
        """Map a driver exception to an AgentStorageError; backends refine this."""
        return BackendError(f"{type(exc).__name__}: {exc}")

    def translate_error(self, exc: BaseException) -> AgentStorageError:
        """The typed error for a driver exception escaping a primitive (the backend's
        ``_translate_error``); what :func:`public` raises, the original as its cause."""
        return self._translate_error(exc)


def public(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Wrap a public domain (or query) method: driver errors become BackendError, cause kept."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except AgentStorageError:
            raise
        except Exception as exc:
            owner = args[0]
            domain = owner if isinstance(owner, Domain) else owner.domain  # type: ignore[attr-defined]
            raise domain.translate_error(exc) from exc

    return wrapper


# -- argument checks shared by the domains ---------------------------------------------


def check_page(page: Any, per_page: Any, *, allow_zero: bool = False) -> tuple[int, int | None]:
    """Validate ``page``/``per_page``; return (offset, limit) with limit None = all."""
    if isinstance(page, bool) or not isinstance(page, int) or page < 0:
        raise ValidationError(f"page: expected an int >= 0, got {page!r}")
    if per_page is None:
        if page:
            raise ValidationError("page: must be 0 when per_page is None (everything)")
        return 0, None
    lowest = 0 if allow_zero else 1
    if isinstance(per_page, bool) or not isinstance(per_page, int) or per_page < lowest:
        raise ValidationError(f"per_page: expected an int >= {lowest} or None, got {per_page!r}")
    return page * per_page, per_page


def check_direction(direction: Any, field: str = "direction") -> str:
    if isinstance(direction, str) and direction.lower() in ("asc", "desc"):
        return direction.lower()
    raise ValidationError(f"{field}: expected 'asc' or 'desc', got {direction!r}")


def check_choice(value: Any, choices: Sequence[str], field: str) -> str:
    if isinstance(value, str) and value in choices:
        return value
    raise ValidationError(f"{field}: {value!r} is not one of {list(choices)}")


def opt_id(value: Any, field: str) -> str | None:
    return None if value is None else check_id(value, field)


def opt_time(value: Any, field: str) -> _dt.datetime | None:
    return None if value is None else to_utc(value, field)


def id_list(values: Any, field: str) -> tuple[str, ...]:
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ValidationError(f"{field}: expected a list of ids, got {type(values).__name__}")
    return tuple(dict.fromkeys(check_id(v, field) for v in values))


def str_set(values: Any, field: str) -> tuple[str, ...] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = (values,)
    return tuple(check_text(v, field) for v in values)


def metadata_filter(value: Any, field: str = "metadata") -> Mapping[str, Any] | None:
    """A metadata filter: top-level keys equal to JSON scalars."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or not value:
        raise ValidationError(f"{field}: expected a non-empty dict of key -> value")
    for key, item in value.items():
        check_id(key, f"{field} key")
        if isinstance(item, Mapping | list | tuple):
            raise ValidationError(f"{field}[{key!r}]: filter values must be JSON scalars")
        check_json(item, f"{field}[{key!r}]")
    return dict(value)


async def fetch_page(
    select: Callable[[int | None], Awaitable[Sequence[T]]],
    count: Callable[[], Awaitable[int]],
    *, offset: int, limit: int | None, page: int,
) -> Page[T]:
    """One page of a listing: ``select(limit + 1)`` rows, and a COUNT only when the rows
    cannot tell the total (there is a next page, or the page is past the end)."""
    rows = await select(None if limit is None else limit + 1)
    total = None
    if limit is not None and (len(rows) > limit or (offset and not rows)):
        total = await count()
    return make_page(rows, offset=offset, limit=limit, page=page, total=total)


def make_page(
    rows: Sequence[T], *, offset: int, limit: int | None, page: int, total: int | None
) -> Page[T]:
    """Build a Page from ``limit + 1`` fetched rows (the extra row proves has_more)."""
    if limit is None:
        return Page(
            items=tuple(rows),
            total=len(rows) if total is None else total,
            page=page,
            per_page=None,
            has_more=False,
        )
    has_more = len(rows) > limit
    items = tuple(rows[:limit])
    if total is None and not has_more and (offset == 0 or items):
        total = offset + len(items)  # the last page tells the total without a COUNT
    return Page(items=items, total=total, page=page, per_page=limit, has_more=has_more)
