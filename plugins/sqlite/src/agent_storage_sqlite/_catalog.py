"""Index definitions as SQLite stores them (``sqlite_master.sql``) -> IndexInfo parts.

``IndexInfo.columns`` are bare column names (no ASC/DESC) or JSON paths written as in an
IndexSpec (``json_extract("metadata", '$."a"."b"')`` -> ``metadata->'a'->>'b'``).
"""

from __future__ import annotations

import re

__all__ = ["parse_index_sql"]

_JSON_EXTRACT = re.compile(r"""json_extract\(\s*"?(\w+)"?\s*,\s*'\$((?:\."[^"]*")+)'\s*\)""")


def _sqlite_column(expr: str) -> str:
    expr = expr.strip()
    expr = re.sub(r"\s+(ASC|DESC)$", "", expr, flags=re.IGNORECASE)
    m = _JSON_EXTRACT.fullmatch(expr)
    if m:
        keys = re.findall(r'\."([^"]*)"', m.group(2))
        arrows = "".join(f"->'{k}'" for k in keys[:-1]) + f"->>'{keys[-1]}'"
        return f"{m.group(1)}{arrows}"
    return expr.strip('"')


def _split_top(body: str) -> list[str]:
    parts, depth, quote, cur = [], 0, "", ""
    for ch in body:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def parse_index_sql(sql: str) -> tuple[tuple[str, ...], str | None, bool]:
    """(columns, where, unique) from a CREATE INDEX statement stored in sqlite_master."""
    unique = bool(re.match(r"\s*CREATE\s+UNIQUE", sql, re.IGNORECASE))
    start = sql.index("(", re.search(r"\sON\s", sql, re.IGNORECASE).end())  # type: ignore[union-attr]
    depth, end = 0, start
    for i in range(start, len(sql)):
        if sql[i] == "(":
            depth += 1
        elif sql[i] == ")":
            depth -= 1
            if depth == 0:
                end = i
                break
    columns = tuple(_sqlite_column(c) for c in _split_top(sql[start + 1:end]))
    rest = sql[end + 1:].strip()
    where = rest[5:].strip() if rest.upper().startswith("WHERE") else None
    return columns, where, unique


