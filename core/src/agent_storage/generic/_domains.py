"""The five generic domain classes by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ._agents import GenericAgents
from ._memory import GenericMemory
from ._observability import GenericObservability
from ._scores import GenericScores
from ._workflows import GenericWorkflows

if TYPE_CHECKING:
    from ..domains._base import Domain
    from ._contract import RecordBackend

__all__ = ["DOMAIN_CLASSES"]

DOMAIN_CLASSES: dict[str, Callable[[RecordBackend], Domain]] = {
    "memory": GenericMemory,
    "workflows": GenericWorkflows,
    "scores": GenericScores,
    "observability": GenericObservability,
    "agents": GenericAgents,
}
