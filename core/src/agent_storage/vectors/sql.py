"""Vectors on the SQL backends: :class:`SqlVectors`, the mixin of SqlMemory that a SQL
plugin refines (PostgreSQL: pgvector)."""

from __future__ import annotations

from ._sql import SqlVectors

__all__ = ["SqlVectors"]
