"""Vectors on the SQL backends: :class:`SqlVectors`, the mixin of SqlMemory that a SQL
plugin refines (PostgreSQL: pgvector)."""

from __future__ import annotations

from ._sql import MESSAGE_COLUMNS, SqlVectors

__all__ = ["MESSAGE_COLUMNS", "SqlVectors"]
