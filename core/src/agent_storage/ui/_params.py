"""Reading query parameters: optional ids, page numbers; bad values are a 400 page."""

from __future__ import annotations

from starlette.requests import Request

from ..errors import ValidationError

__all__ = ["opt", "page_number", "required"]

#: The highest page number accepted (offset paging: page * per_page rows are skipped).
MAX_PAGE = 100_000


def opt(request: Request, name: str) -> str | None:
    """The parameter, or None when absent or empty."""
    value = request.query_params.get(name, "").strip()
    return value or None


def required(request: Request, name: str) -> str:
    value = opt(request, name)
    if value is None:
        raise ValidationError(f"{name}: missing")
    return value


def page_number(request: Request, name: str = "page") -> int:
    raw = request.query_params.get(name, "0") or "0"
    if not raw.isdigit() or int(raw) > MAX_PAGE:
        raise ValidationError(f"{name}: expected a page number, got {raw!r}")
    return int(raw)
