"""Plain decoded rows for the raw baselines (what a hand-written data layer would return)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(slots=True)
class RawMessage:
    id: str
    thread_id: str
    resource_id: str | None
    role: str
    type: str
    content: Any
    metadata: dict[str, Any]
    created_at: datetime


@dataclass(slots=True)
class RawThread:
    id: str
    resource_id: str
    title: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
