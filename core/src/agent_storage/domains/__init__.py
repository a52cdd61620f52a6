"""Abstract domain contracts: what a backend must do (checked by the conformance kit)."""

from ..naming import DOMAIN_NAMES
from .agents import AgentsDomain
from .memory import MemoryDomain, MessageSelect, ThreadFilter, ThreadQuery, ThreadSelect
from .observability import ObservabilityDomain, TraceFilter
from .scores import ScoreFilter, ScoresDomain
from .workflows import RunFilter, WorkflowsDomain

__all__ = [
    "DOMAIN_NAMES",
    "AgentsDomain",
    "MemoryDomain",
    "MessageSelect",
    "ObservabilityDomain",
    "RunFilter",
    "ScoreFilter",
    "ScoresDomain",
    "ThreadFilter",
    "ThreadQuery",
    "ThreadSelect",
    "TraceFilter",
    "WorkflowsDomain",
]
