"""Prebuilt statements compiled once for SQLite, bound positionally.

A domain registers each statement it builds once and reuses (``SqlBackend.prepared``);
:class:`Preparer` compiles it with SQLAlchemy's public compile API (``Compiled.string``,
``positiontup``, ``params``, ``bind_names``) and binds each call's parameters straight
into the sqlite3 argument list. Statements with late-rendered parameters (``IN`` lists
of ``bindparam(..., expanding=True)``) are expanded per call by
``SQLCompiler.construct_expanded_state`` (public since SQLAlchemy 2.0). Statements that
were not registered are executed through a SQLAlchemy ``Connection`` instead (see
:mod:`._lanes`), which caches their compiled form itself.
"""

from __future__ import annotations

import operator
from typing import Any

__all__ = ["Prepared", "Preparer"]

_MAX_CACHED = 2000


class _Slot:
    """Stands for ``params[key]`` (``index`` < 0) or ``params[key][index]`` while an
    expansion plan is built."""

    __slots__ = ("index", "key")

    def __init__(self, key: str, index: int) -> None:
        self.key, self.index = key, index


#: Expansion plans kept per statement (one per combination of list lengths).
_MAX_PLANS = 64


class Prepared:
    """A statement compiled for SQLite: SQL text and how to bind its parameters."""

    __slots__ = ("_plans", "compiled", "defaults", "expanding", "expands", "keys", "literal",
                 "names", "sql", "stmt")

    def __init__(self, stmt: Any, dialect: Any, column_keys: list[str] | None = None) -> None:
        compiled = stmt.compile(dialect=dialect, column_keys=column_keys)
        self.stmt = stmt
        self.compiled = compiled
        self.sql: str = compiled.string
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        # the key a caller passes for each compiled name (they differ for anonymous binds)
        key_of = {name: bp.key for bp, name in compiled.bind_names.items()}
        self.keys: tuple[str, ...] = tuple(key_of.get(n, n) for n in self.names)
        self.defaults: dict[str, Any] = dict(compiled.params)
        self.literal = bool(compiled.literal_execute_params)
        self.expanding = tuple(bp.key for bp in compiled.post_compile_params)
        self.expands = bool(self.expanding) or self.literal
        self._plans: dict[tuple[int, ...], tuple[str, list[tuple[str | None, int, Any]]]] = {}

    def bind(self, params: dict[str, Any]) -> tuple[str, Any]:
        """SQL and positional arguments for one call."""
        if self.expands:
            return self._expand(params)
        defaults = self.defaults
        return self.sql, [params[k] if k in params else defaults[n]
                          for n, k in zip(self.names, self.keys, strict=True)]

    def _expand(self, params: dict[str, Any]) -> tuple[str, Any]:
        """IN lists expanded by SQLAlchemy's ``construct_expanded_state``: once per
        combination of list lengths, with placeholders that record where each argument
        comes from (the plan), then by the plan."""
        lists = [params.get(k) for k in self.expanding]
        if self.literal or not all(type(v) in (list, tuple) for v in lists):
            state = self.compiled.construct_expanded_state(params)
            return state.statement, state.positional_parameters
        shape = tuple(len(v) for v in lists)  # type: ignore[arg-type]
        plan = self._plans.get(shape)
        if plan is None:
            plan = self._plan(params)
            if len(self._plans) >= _MAX_PLANS:
                self._plans.clear()
            self._plans[shape] = plan
        sql, slots = plan
        return sql, [value if key is None else params[key] if index < 0 else
                     params[key][index] for key, index, value in slots]

    def _plan(self, params: dict[str, Any]) -> tuple[str, list[tuple[str | None, int, Any]]]:
        marked = {k: ([_Slot(k, i) for i in range(len(v))] if k in self.expanding
                      else _Slot(k, -1)) for k, v in params.items()}
        state = self.compiled.construct_expanded_state(marked)
        slots: list[tuple[str | None, int, Any]] = [
            (v.key, v.index, None) if isinstance(v, _Slot) else (None, -1, v)
            for v in state.positional_parameters]
        return state.statement, slots


class Preparer:
    """Compiled statements of one store (safe to use from the loop and driver threads)."""

    def __init__(self, dialect: Any, debug: bool = False) -> None:
        self.dialect = dialect
        self.debug = debug
        self._by_id: dict[int, Prepared] = {}
        # executemany of a prebuilt INSERT: compiled for the columns its rows give (an
        # INSERT compiled without parameters lists every column, e.g. messages.seq)
        self._many: dict[tuple[int, tuple[str, ...]], Prepared] = {}

    def register(self, stmt: Any) -> None:
        """Compile a prebuilt statement (constant structure and literals) once."""
        self._by_id[id(stmt)] = Prepared(stmt, self.dialect)

    def for_columns(self, stmt: Any, columns: tuple[str, ...]) -> Prepared | None:
        """A prebuilt INSERT compiled for exactly ``columns`` (its ``names``: the same
        columns, in table order), as SQLAlchemy would for rows giving them (compiled without
        parameters it would list every column, e.g. messages.seq); None when that does not
        apply."""
        key = (id(stmt), columns)
        prepared = self._many.get(key)
        if prepared is not None and prepared.stmt is stmt:
            return prepared
        base = self._by_id.get(id(stmt))
        if base is None or base.stmt is not stmt or base.expands:
            return None
        if not getattr(stmt, "is_insert", False) or len(columns) < 2:
            return None  # (itemgetter of one name returns a value, not a tuple)
        try:
            prepared = Prepared(stmt, self.dialect, column_keys=list(columns))
        except Exception:  # e.g. a key that is no column: let the general path decide
            return None
        if prepared.expands or sorted(prepared.names) != sorted(columns):
            return None
        if len(self._many) >= _MAX_CACHED:
            self._many.clear()
        self._many[key] = prepared
        return prepared

    def many(self, stmt: Any, rows: list[dict[str, Any]]) -> tuple[str, list[Any]] | None:
        """SQL and argument tuples for an executemany of a prebuilt INSERT whose rows all
        give the same columns; None when that does not apply."""
        prepared = self.for_columns(stmt, tuple(rows[0]))
        if prepared is None:
            return None
        width = len(prepared.names)
        getter = operator.itemgetter(*prepared.names)
        try:
            args = [getter(row) for row in rows if len(row) == width]
        except KeyError:
            return None
        if len(args) != len(rows):
            return None
        return prepared.sql, args

    def lookup(self, stmt: Any) -> Prepared | None:
        """The compiled form of a registered statement (None: not registered)."""
        prepared = self._by_id.get(id(stmt))
        return prepared if prepared is not None and prepared.stmt is stmt else None

    def bind(self, stmt: Any, params: dict[str, Any] | None) -> tuple[str, Any]:
        """SQL and positional arguments of ``stmt`` (a statement that was not registered
        is compiled for this call only; the executor runs those through SQLAlchemy)."""
        params = params or {}
        prepared = self.lookup(stmt)
        if prepared is None:
            keys = list(params) if getattr(stmt, "is_dml", False) and params else None
            prepared = Prepared(stmt, self.dialect, column_keys=keys)
        return prepared.bind(params)
