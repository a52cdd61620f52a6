"""Templates: one Jinja2 environment with autoescape on for every template.

Every value reaches the page through ``{{ }}`` and is escaped there: message content,
titles, ids and JSON are attacker-controlled text. No filter here marks anything safe.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import attrs
import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from ..serde import to_wire

__all__ = ["message_text", "pretty", "render", "templates"]

_HERE = Path(__file__).parent


def pretty(value: Any) -> str:
    """JSON, indented, non-ASCII kept; a record as its wire form; values JSON cannot
    hold are shown by ``str``."""
    if attrs.has(type(value)):
        value = to_wire(value)
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def when(value: _dt.datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.1f} ms"


def message_text(content: Any) -> str | None:
    """The text of a plain message (a string, or ``{"text": str}`` alone), else None:
    anything else is structured and shown folded as JSON."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict) and set(content) == {"text"} and isinstance(content["text"], str):
        return content["text"]
    return None


def query(request: Request, **changes: Any) -> str:
    """This page's query string with ``changes`` applied (None removes a key)."""
    params = dict(request.query_params)
    params.update({k: v for k, v in changes.items() if v is not None})
    for key in [k for k, v in changes.items() if v is None]:
        params.pop(key, None)
    return "?" + urlencode({k: v for k, v in params.items() if v != ""})


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        autoescape=True,  # every template, whatever its name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(pretty=pretty, when=when, ms=ms, message_text=message_text)
    env.globals.update(query=query)
    return env


templates = Jinja2Templates(env=_environment())


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("title", "")
    return templates.TemplateResponse(request, name, context, status_code=status_code)
