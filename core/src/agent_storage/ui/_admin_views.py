"""Stored agent configurations (versions, a diff of two) and the store's status."""

from __future__ import annotations

import difflib
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..errors import AgentStorageError, NotFoundError, ValidationError
from ..serde import to_wire
from ._params import opt, page_number, required
from ._render import render

__all__ = ["agent", "agents", "status"]

AGENTS_PER_PAGE = 50
#: Fields that change on every version and would only add noise to a diff.
DIFF_IGNORED = ("created_at", "updated_at", "version")


async def agents(request: Request) -> Response:
    page = await request.app.state.storage.agents.list_agents(
        status=opt(request, "status"), page=page_number(request), per_page=AGENTS_PER_PAGE)
    return render(request, "agents.html", title="Agents", page=page)


def _config_text(config: Any) -> list[str]:
    wire = {k: v for k, v in to_wire(config).items() if k not in DIFF_IGNORED}
    return json.dumps(wire, indent=2, ensure_ascii=False, sort_keys=True).splitlines()


def _version(request: Request, name: str, default: int) -> int:
    raw = opt(request, name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise ValidationError(f"{name}: expected a version number, got {raw!r}")
    return int(raw)


async def agent(request: Request) -> Response:
    """The active configuration, every version, and a unified diff of versions a and b
    (default: the previous version against the newest)."""
    domain = request.app.state.storage.agents
    agent_id = required(request, "id")
    current = await domain.get_agent(agent_id)
    if current is None:
        raise NotFoundError(f"agent {agent_id!r} not found")
    versions = sorted(await domain.list_agent_versions(agent_id), key=lambda v: v.version)
    by_number = {v.version: v for v in versions}
    newest = versions[-1].version if versions else current.version
    a = _version(request, "a", max(newest - 1, versions[0].version if versions else newest))
    b = _version(request, "b", newest)
    diff = None
    if a in by_number and b in by_number:
        diff = list(difflib.unified_diff(
            _config_text(by_number[a].config), _config_text(by_number[b].config),
            f"version {a}", f"version {b}", lineterm="", n=3))
    return render(request, "agent.html", title=f"Agent {current.name}", agent=current,
                  versions=versions, a=a, b=b, diff=diff)


async def status(request: Request) -> Response:
    """Backend, schema version, tables and row counts, and the indexes where the backend
    can list them."""
    storage = request.app.state.storage
    info = await storage.status()
    indexes, index_error = None, None
    try:
        indexes = await storage.indexes.list()
    except AgentStorageError as exc:  # e.g. NotSupportedError: a backend without indexes
        index_error = str(exc)
    domains = sorted(storage.backends)
    return render(request, "status.html", title="Status", info=info, indexes=indexes,
                  index_error=index_error, domains=domains)
