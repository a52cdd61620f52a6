"""Index specs: parsing rejects hostile input, rendering is exact, and the SQL really runs."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_storage._indexspec import (
    BoolOp,
    ColumnRef,
    Comparison,
    Constant,
    IndexColumn,
    JsonPath,
    Not,
    NullTest,
    ParsedIndex,
    parse_index,
    parse_where,
    quote_ident,
    render_create,
    render_drop,
)
from agent_storage.errors import (
    InvalidIdentifierError,
    InvalidIndexSpecError,
    NotSupportedError,
)


def spec(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "idx_test",
        "table": "threads",
        "columns": ("resource_id",),
        "unique": False,
        "where": None,
        "method": "btree",
        "opclass": None,
        "storage": {},
    }
    base.update(overrides)
    return base


def parse(**overrides: Any) -> ParsedIndex:
    return parse_index(**spec(**overrides))


# --------------------------------------------------------------- rejections

INVALID: list[tuple[str, dict[str, Any], str]] = [
    # name
    ("name-injection", {"name": 'x"; DROP TABLE t; --'}, "IndexSpec.name"),
    ("name-64-bytes", {"name": "a" * 64}, "longer than 63 bytes"),
    ("name-empty", {"name": ""}, "IndexSpec.name"),
    ("name-leading-digit", {"name": "1idx"}, "IndexSpec.name"),
    ("name-unicode", {"name": "idx_é"}, "IndexSpec.name"),
    ("name-not-str", {"name": 42}, "IndexSpec.name"),
    # table
    ("table-unknown", {"table": "users"}, "IndexSpec.table"),
    ("table-injection", {"table": "threads; DROP TABLE x"}, "IndexSpec.table"),
    ("table-physical-name", {"table": "agent_storage_threads"}, "IndexSpec.table"),
    # columns
    ("columns-empty", {"columns": ()}, "at least one column"),
    ("columns-bare-string", {"columns": "resource_id"}, "IndexSpec.columns"),
    ("column-injection", {"columns": ("id); DROP TABLE x; --",)}, "IndexSpec.columns[0]"),
    ("column-comment", {"columns": ("id -- x",)}, "comments are not allowed"),
    ("column-block-comment", {"columns": ("id /* x */",)}, "comments are not allowed"),
    ("column-function", {"columns": ("lower(title)",)}, "function calls are not allowed"),
    ("column-double-quoted", {"columns": ('"id"',)}, "double-quoted"),
    ("column-64-bytes", {"columns": ("c" * 64,)}, "longer than 63 bytes"),
    ("column-keyword", {"columns": ("desc",)}, "expected a column name"),
    ("column-two-names", {"columns": ("id title",)}, "trailing input"),
    ("column-bad-order", {"columns": ("id DESC ASC",)}, "trailing input"),
    ("column-nulls-middle", {"columns": ("id NULLS MIDDLE",)}, "FIRST or LAST"),
    ("column-duplicate", {"columns": ("id", "id")}, "more than once"),
    ("column-not-str", {"columns": (1,)}, "IndexSpec.columns[0]"),
    ("column-too-many", {"columns": tuple(f"c{i}" for i in range(33))}, "at most 32"),
    ("json-quote-in-key", {"columns": ("metadata->>'a''b'",)}, "JSON key"),
    ("json-injection-key", {"columns": ("metadata->>'a''); DROP TABLE x; --'",)}, "JSON key"),
    ("json-dollar-key", {"columns": ("metadata->>'$.a'",)}, "JSON key"),
    ("json-empty-key", {"columns": ("metadata->>''",)}, "JSON key"),
    ("json-arrow-last", {"columns": ("metadata->'a'",)}, "'->>' last"),
    ("json-text-then-arrow", {"columns": ("metadata->>'a'->>'b'",)}, "'->>' last"),
    ("json-key-unquoted", {"columns": ("metadata->>a",)}, "quoted JSON key"),
    ("json-key-number", {"columns": ("metadata->>0",)}, "quoted JSON key"),
    ("json-column-injection", {"columns": ("x;y->>'a'",)}, "';' is not allowed"),
    # where
    ("where-semicolon", {"where": "1=1; DROP TABLE x"}, "IndexSpec.where"),
    ("where-semicolon-after", {"where": "status = 'a'; DROP TABLE x"}, "';' is not allowed"),
    ("where-or-comment", {"where": "status = 'a' OR 1=1 --"}, "IndexSpec.where"),
    ("where-tautology", {"where": "1 = 1"}, "column or JSON path on one side"),
    ("where-comment", {"where": "status = 'a' -- x"}, "comments are not allowed"),
    ("where-block-comment", {"where": "status /* x */ = 'a'"}, "comments are not allowed"),
    ("where-function", {"where": "pg_sleep(1) IS NULL"}, "function calls are not allowed"),
    ("where-function-rhs", {"where": "status = lower('A')"}, "function calls are not allowed"),
    ("where-subselect", {"where": "id IN (SELECT id FROM x)"}, "comparison operator"),
    ("where-subselect-rhs", {"where": "id = (SELECT 1)"}, "expected a column name"),
    ("where-unbalanced-open", {"where": "(status = 'a'"}, "expected ')'"),
    ("where-unbalanced-close", {"where": "status = 'a')"}, "trailing input"),
    ("where-trailing", {"where": "status = 'a' garbage"}, "trailing input"),
    ("where-unterminated", {"where": "status = 'a"}, "unterminated string"),
    ("where-escaped-quote-open", {"where": "status = 'a'' OR 1=1"}, "unterminated string"),
    ("where-cast", {"where": "status::text = 'a'"}, "unexpected character"),
    ("where-concat", {"where": "status || 'x' = 'a'"}, "unexpected character"),
    ("where-like", {"where": "status LIKE 'a%'"}, "comparison operator"),
    ("where-dollar-quote", {"where": "status = $$a$$"}, "unexpected character"),
    ("where-eq-null", {"where": "status = NULL"}, "IS [NOT] NULL"),
    ("where-literal-is-null", {"where": "'a' IS NULL"}, "column or JSON path"),
    ("where-json-vs-number", {"where": "metadata->>'n' > 5"}, "quoted string"),
    ("where-empty", {"where": "   "}, "is empty"),
    ("where-not-str", {"where": 1}, "IndexSpec.where"),
    ("where-too-long", {"where": "status = '" + "a" * 1000 + "'"}, "longer than 1000"),
    ("where-too-deep", {"where": "(" * 40 + "status = 'a'" + ")" * 40}, "nested deeper"),
    ("where-not-too-deep", {"where": "NOT " * 40 + "status = 'a'"}, "nested deeper"),
    ("where-control-char", {"where": "status = 'a\x00b'"}, "control characters"),
    ("where-huge-int", {"where": "n = 99999999999999999999"}, "64-bit"),
    ("where-huge-float", {"where": "n = 1e999"}, "out of range"),
    ("where-dangling-and", {"where": "status = 'a' AND"}, "end of input"),
    ("where-backtick", {"where": "`status` = 'a'"}, "unexpected character"),
    ("where-unicode-space", {"where": "status\u00a0= 'a'"}, "unexpected character"),
    # method, opclass, unique
    ("method-injection", {"method": "btree; drop"}, "IndexSpec.method"),
    ("method-unknown", {"method": "ivfflat"}, "IndexSpec.method"),
    ("method-upper", {"method": "BTREE"}, "IndexSpec.method"),
    ("opclass-injection", {"opclass": "text_ops; DROP"}, "IndexSpec.opclass"),
    ("opclass-qualified", {"opclass": "pg_catalog.text_ops"}, "IndexSpec.opclass"),
    ("unique-gin", {"method": "gin", "unique": True, "columns": ("metadata",)}, "btree"),
    ("order-gin", {"method": "gin", "columns": ("metadata DESC",)}, "ASC/DESC"),
    ("hash-two-columns", {"method": "hash", "columns": ("a", "b")}, "exactly one column"),
    ("unique-not-bool", {"unique": "yes"}, "IndexSpec.unique"),
    # storage
    ("storage-key-injection", {"storage": {"fillfactor=10); DROP": 1}}, "unknown storage"),
    ("storage-unknown-key", {"storage": {"tablespace": 1}}, "unknown storage"),
    ("storage-value-string", {"storage": {"fillfactor": "90); DROP TABLE x; --"}}, "integer"),
    ("storage-value-numeric-string", {"storage": {"fillfactor": "90"}}, "integer"),
    ("storage-value-float", {"storage": {"fillfactor": 90.5}}, "integer"),
    ("storage-value-bool-for-int", {"storage": {"fillfactor": True}}, "integer"),
    ("storage-fillfactor-low", {"storage": {"fillfactor": 5}}, "10..100"),
    ("storage-fillfactor-high", {"storage": {"fillfactor": 101}}, "10..100"),
    ("storage-bool-string", {"storage": {"deduplicate_items": "true"}}, "True or False"),
    ("storage-wrong-method", {"storage": {"fastupdate": True}}, "not btree"),
    ("storage-buffering-string", {"method": "gist", "storage": {"buffering": "x"}}, "auto"),
    ("storage-not-mapping", {"storage": [("fillfactor", 90)]}, "expected a mapping"),
]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [pytest.param(o, m, id=i) for i, o, m in INVALID],
)
def test_invalid_specs_are_rejected(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidIndexSpecError) as info:
        parse(**overrides)
    assert message in str(info.value)
    assert str(info.value).startswith("IndexSpec.")


def test_error_messages_truncate_hostile_values() -> None:
    with pytest.raises(InvalidIndexSpecError) as info:
        parse(name="x" * 10_000)
    assert len(str(info.value)) < 200


# ------------------------------------------------------------------ parsing


def test_parse_columns_and_paths() -> None:
    parsed = parse(
        columns=(
            "resource_id",
            "created_at desc",
            "metadata->'a'->>'b c.d-e_1' ASC NULLS LAST",
        ),
        unique=True,
    )
    assert parsed.columns == (
        IndexColumn(expr=ColumnRef(name="resource_id")),
        IndexColumn(expr=ColumnRef(name="created_at"), order="DESC"),
        IndexColumn(
            expr=JsonPath(column="metadata", keys=("a", "b c.d-e_1")), order="ASC", nulls="LAST"
        ),
    )


def test_parse_where_precedence_and_literals() -> None:
    predicate = parse_where(
        "a = 'x''y' or not b != -1.5 and c is not null AND d >= TRUE OR e IS NULL"
    )
    assert predicate == BoolOp(
        op="OR",
        operands=(
            Comparison(left=ColumnRef(name="a"), op="=", right=Constant(value="x'y")),
            BoolOp(
                op="AND",
                operands=(
                    Not(
                        operand=Comparison(
                            left=ColumnRef(name="b"), op="<>", right=Constant(value=-1.5)
                        )
                    ),
                    NullTest(operand=ColumnRef(name="c"), negated=True),
                    Comparison(left=ColumnRef(name="d"), op=">=", right=Constant(value=True)),
                ),
            ),
            NullTest(operand=ColumnRef(name="e"), negated=False),
        ),
    )


def test_parse_where_flattens_and_allows_literal_on_left() -> None:
    predicate = parse_where("(a = 1 AND (b = 2 AND c = 3)) AND 4 < d")
    assert isinstance(predicate, BoolOp)
    assert len(predicate.operands) == 4
    assert predicate.operands[-1] == Comparison(
        left=Constant(value=4), op="<", right=ColumnRef(name="d")
    )


def test_opclass_is_folded_and_storage_sorted() -> None:
    parsed = parse(
        method="gin",
        columns=("metadata",),
        opclass="JSONB_Path_Ops",
        storage={"gin_pending_list_limit": 128, "fastupdate": False},
    )
    assert parsed.opclass == "jsonb_path_ops"
    assert parsed.storage == (("fastupdate", False), ("gin_pending_list_limit", 128))


def test_defaults_and_max_lengths_are_accepted() -> None:
    parsed = parse_index(name="n" * 63, table="agent_versions", columns=["c" * 63])
    assert parsed.name == "n" * 63
    assert parsed.where is None and parsed.storage == () and parsed.method == "btree"


# ---------------------------------------------------------------- rendering

RENDERED: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "plain",
        {"columns": ("resource_id", "created_at DESC", "id")},
        'CREATE INDEX IF NOT EXISTS "ix" ON "s"."t" USING "btree" '
        '("resource_id", "created_at" DESC, "id")',
        'CREATE INDEX IF NOT EXISTS "ix" ON "t" ("resource_id", "created_at" DESC, "id")',
    ),
    (
        "unique-partial",
        {"columns": ("name",), "unique": True, "where": "status = 'active' AND deleted = false"},
        'CREATE UNIQUE INDEX IF NOT EXISTS "ix" ON "s"."t" USING "btree" ("name") '
        'WHERE "status" = \'active\' AND "deleted" = FALSE',
        'CREATE UNIQUE INDEX IF NOT EXISTS "ix" ON "t" ("name") '
        'WHERE "status" = \'active\' AND "deleted" = 0',
    ),
    (
        "json-path",
        {
            "columns": ("metadata->>'kind'", "metadata->'a'->>'b c' DESC"),
            "where": "metadata->>'kind' <> 'x' OR (n >= -2 AND NOT m < 2.5) OR p IS NULL",
        },
        'CREATE INDEX IF NOT EXISTS "ix" ON "s"."t" USING "btree" '
        "((\"metadata\"->>'kind'), (\"metadata\"->'a'->>'b c') DESC) "
        "WHERE (\"metadata\"->>'kind') <> 'x' "
        'OR ("n" >= (-2) AND NOT ("m" < 2.5)) OR "p" IS NULL',
        'CREATE INDEX IF NOT EXISTS "ix" ON "t" '
        '(json_extract("metadata", \'$."kind"\'), '
        'json_extract("metadata", \'$."a"."b c"\') DESC) '
        "WHERE json_extract(\"metadata\", '$.\"kind\"') <> 'x' "
        'OR ("n" >= (-2) AND NOT ("m" < 2.5)) OR "p" IS NULL',
    ),
    (
        "string-escaping",
        {"where": "title = 'it''s \\ a \"test\"' AND n != 3"},
        'CREATE INDEX IF NOT EXISTS "ix" ON "s"."t" USING "btree" ("resource_id") '
        'WHERE "title" = E\'it\'\'s \\\\ a "test"\' AND "n" <> 3',
        'CREATE INDEX IF NOT EXISTS "ix" ON "t" ("resource_id") '
        'WHERE "title" = \'it\'\'s \\ a "test"\' AND "n" <> 3',
    ),
]


@pytest.mark.parametrize(
    ("overrides", "pg_sql", "sqlite_sql"),
    [pytest.param(o, p, s, id=i) for i, o, p, s in RENDERED],
)
def test_render_create(overrides: dict[str, Any], pg_sql: str, sqlite_sql: str) -> None:
    parsed = parse(**overrides)
    pg = render_create(
        parsed, dialect="postgresql", physical_name="ix", physical_table="t", schema="s"
    )
    assert pg == pg_sql
    lite = render_create(
        parsed, dialect="sqlite", physical_name="ix", physical_table="t", schema=None
    )
    assert lite == sqlite_sql


def test_render_create_postgresql_options() -> None:
    gin = parse(
        method="gin",
        columns=("metadata",),
        opclass="jsonb_path_ops",
        storage={"fastupdate": True, "gin_pending_list_limit": 256},
    )
    sql = render_create(
        gin,
        dialect="postgresql",
        physical_name="ix",
        physical_table="t",
        schema=None,
        if_not_exists=False,
        concurrently=True,
    )
    assert sql == (
        'CREATE INDEX CONCURRENTLY "ix" ON "t" USING "gin" ("metadata" "jsonb_path_ops") '
        "WITH (fastupdate = TRUE, gin_pending_list_limit = 256)"
    )
    btree = parse(
        columns=("title NULLS FIRST",),
        opclass="text_pattern_ops",
        storage={"fillfactor": 70, "deduplicate_items": False},
    )
    assert render_create(
        btree, dialect="postgresql", physical_name="ix", physical_table="t", schema="s"
    ) == (
        'CREATE INDEX IF NOT EXISTS "ix" ON "s"."t" USING "btree" '
        '("title" "text_pattern_ops" NULLS FIRST) '
        "WITH (deduplicate_items = FALSE, fillfactor = 70)"
    )
    gist = parse(method="gist", columns=("area",), storage={"buffering": "auto"})
    assert render_create(
        gist, dialect="postgresql", physical_name="ix", physical_table="t", schema=None
    ).endswith("WITH (buffering = 'auto')")


def test_render_create_sqlite_schema_and_no_concurrently() -> None:
    sql = render_create(
        parse(),
        dialect="sqlite",
        physical_name="ix",
        physical_table="t",
        schema="main",
        concurrently=True,
    )
    assert sql == 'CREATE INDEX IF NOT EXISTS "main"."ix" ON "t" ("resource_id")'


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"method": "gin", "columns": ("metadata",)}, "only btree"),
        ({"opclass": "text_pattern_ops"}, "operator classes"),
        ({"storage": {"fillfactor": 90}}, "storage parameters"),
        ({"columns": ("a NULLS LAST",)}, "NULLS FIRST/LAST"),
    ],
)
def test_sqlite_limits_are_not_supported(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(NotSupportedError, match=message):
        render_create(
            parse(**overrides),
            dialect="sqlite",
            physical_name="ix",
            physical_table="t",
            schema=None,
        )


def test_render_rejects_unknown_dialect_and_unparsed_spec() -> None:
    bad_dialect: Any = "mysql"
    unparsed: Any = spec()
    names: Any = {"physical_name": "i", "physical_table": "t", "schema": None}
    with pytest.raises(NotSupportedError):
        render_create(parse(), dialect=bad_dialect, **names)
    with pytest.raises(TypeError):
        render_create(unparsed, dialect="sqlite", **names)


def test_render_drop() -> None:
    assert render_drop("ix", "s", "postgresql") == 'DROP INDEX IF EXISTS "s"."ix"'
    assert (
        render_drop("ix", None, "postgresql", if_exists=False, concurrently=True)
        == 'DROP INDEX CONCURRENTLY "ix"'
    )
    assert render_drop("ix", None, "sqlite", concurrently=True) == 'DROP INDEX IF EXISTS "ix"'


def test_quote_ident_escapes() -> None:
    assert quote_ident('a"b') == '"a""b"'
    with pytest.raises(InvalidIdentifierError):
        quote_ident("")
    with pytest.raises(InvalidIdentifierError):
        quote_ident("a\x00b")


# ------------------------------------------------------------ real SQLite

# A string literal full of SQL syntax; rendered, it must stay one literal.
TRICKY = 'it\'s \\ "odd" -- /* x */; DROP TABLE t'
TRICKY_SQL = TRICKY.replace("'", "''")


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(tmp_path / "index.db")
    conn.execute(
        "CREATE TABLE t (id TEXT PRIMARY KEY, resource_id TEXT, status TEXT, title TEXT, "
        "created_at TEXT, metadata TEXT)"
    )
    conn.executemany(
        "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)",
        [
            (
                f"id{i}",
                f"r{i % 7}",
                "active" if i % 3 else "archived",
                TRICKY if i == 5 else f"title {i}",
                f"2024-01-{i % 28 + 1:02d}",
                f'{{"kind": "k{i % 4}", "a": {{"b c": "v{i}"}}}}',
            )
            for i in range(200)
        ],
    )
    conn.commit()
    yield conn
    conn.close()


def _sqlite_create(conn: sqlite3.Connection, name: str, **overrides: Any) -> None:
    sql = render_create(
        parse(**overrides), dialect="sqlite", physical_name=name, physical_table="t", schema=None
    )
    conn.execute(sql)
    conn.execute(sql)  # IF NOT EXISTS: creating it again is a no-op


def _sqlite_plan(conn: sqlite3.Connection, query: str, *params: object) -> str:
    rows = conn.execute(f"EXPLAIN QUERY PLAN {query}", params).fetchall()
    return " | ".join(row[-1] for row in rows)


def test_sqlite_executes_rendered_indexes(sqlite_db: sqlite3.Connection) -> None:
    conn = sqlite_db
    _sqlite_create(conn, "ix_res", columns=("resource_id", "created_at DESC"))
    _sqlite_create(conn, "ix_kind", columns=("metadata->>'kind'", "metadata->'a'->>'b c'"))
    _sqlite_create(
        conn,
        "ix_active",
        columns=("created_at",),
        unique=False,
        where="status = 'active' AND metadata->>'kind' IS NOT NULL",
    )
    _sqlite_create(
        conn,
        "ix_tricky",
        columns=("id",),
        unique=True,
        where=f"title = '{TRICKY_SQL}'",
    )
    conn.execute("ANALYZE")

    indexes = {row[1]: row for row in conn.execute("PRAGMA index_list('t')")}
    assert {"ix_res", "ix_kind", "ix_active", "ix_tricky"} <= indexes.keys()
    assert indexes["ix_tricky"][2] == 1 and indexes["ix_tricky"][4] == 1  # unique, partial
    assert indexes["ix_active"][4] == 1

    plan = _sqlite_plan(
        conn, "SELECT id FROM t WHERE resource_id = ? ORDER BY created_at DESC", "r1"
    )
    assert "ix_res" in plan
    plan = _sqlite_plan(
        conn,
        "SELECT id FROM t WHERE json_extract(metadata, '$.\"kind\"') = ? "
        'AND json_extract(metadata, \'$."a"."b c"\') = ?',
        "k1",
        "v5",
    )
    assert "ix_kind" in plan
    plan = _sqlite_plan(
        conn,
        "SELECT id FROM t WHERE status = 'active' AND json_extract(metadata, '$.\"kind\"') "
        "IS NOT NULL AND created_at > ?",
        "2024-01-20",
    )
    assert "ix_active" in plan
    # The tricky literal reached the index intact: the partial index covers exactly that row.
    query = f"SELECT id FROM t INDEXED BY ix_tricky WHERE title = '{TRICKY_SQL}' AND id > ''"
    assert conn.execute(query).fetchall() == [("id5",)]

    conn.execute(render_drop("ix_tricky", None, "sqlite"))
    conn.execute(render_drop("ix_tricky", None, "sqlite"))  # IF EXISTS: no-op
    assert "ix_tricky" not in {row[1] for row in conn.execute("PRAGMA index_list('t')")}
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (200,)


# -------------------------------------------------------- real PostgreSQL

PG_ARGS = [
    "-h",
    "127.0.0.1",
    "-p",
    "5432",
    "-U",
    "postgres",
    "-X",
    "-q",
    "-tA",
    "-v",
    "ON_ERROR_STOP=1",
]


def _psql(database: str, *statements: str) -> str:
    args = ["psql", *PG_ARGS, "-d", database]
    for statement in statements:
        args += ["-c", statement]  # each -c runs on its own, so CONCURRENTLY works
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode:
        raise AssertionError(f"psql failed: {result.stderr.strip()}")
    return result.stdout


def _pg_unavailable_reason() -> str | None:
    if shutil.which("psql") is None:
        return "psql is not installed"
    try:
        _psql("postgres", "SELECT 1")
    except (AssertionError, subprocess.TimeoutExpired) as exc:
        return f"PostgreSQL at 127.0.0.1:5432 (user postgres) is unreachable: {exc}"
    return None


@pytest.fixture
def pg_database() -> Iterator[str]:
    reason = _pg_unavailable_reason()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    database = f"agent_storage_indexspec_{uuid.uuid4().hex[:12]}"
    _psql("postgres", f'CREATE DATABASE "{database}"')
    try:
        yield database
    finally:
        _psql("postgres", f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def test_postgresql_executes_rendered_indexes(pg_database: str) -> None:
    db = pg_database
    _psql(
        db,
        'CREATE SCHEMA "s"',
        'CREATE TABLE "s"."t" (id text PRIMARY KEY, resource_id text, status text, title text, '
        "created_at timestamptz, n integer, archived boolean, area box, metadata jsonb)",
        "INSERT INTO s.t SELECT 'id' || i, 'r' || (i % 7), "
        "CASE WHEN i % 3 = 0 THEN 'archived' ELSE 'active' END, "
        f"CASE WHEN i = 5 THEN $q${TRICKY}$q$ ELSE 'title ' || i END, "
        "now() - i * interval '1 hour', i, i % 2 = 0, box(point(i, i), point(i + 1, i + 1)), "
        "jsonb_build_object('kind', 'k' || (i % 4), 'a', jsonb_build_object('b c', 'v' || i)) "
        "FROM generate_series(1, 2000) AS i",
    )
    specs: dict[str, dict[str, Any]] = {
        "ix_res": {
            "columns": ("resource_id", "created_at DESC NULLS LAST"),
            "storage": {"fillfactor": 90, "deduplicate_items": True},
        },
        "ix_kind": {
            "columns": ("metadata->>'kind'", "metadata->'a'->>'b c'"),
            "where": "archived = TRUE AND n > -1 AND NOT status = 'gone'",
        },
        "ix_gin": {
            "method": "gin",
            "columns": ("metadata",),
            "opclass": "jsonb_path_ops",
            "storage": {"fastupdate": False, "gin_pending_list_limit": 128},
        },
        "ix_hash": {"method": "hash", "columns": ("status",), "storage": {"fillfactor": 80}},
        "ix_brin": {
            "method": "brin",
            "columns": ("created_at",),
            "storage": {"pages_per_range": 16, "autosummarize": True},
        },
        "ix_gist": {"method": "gist", "columns": ("area",), "storage": {"buffering": "auto"}},
        "ix_spgist": {"method": "spgist", "columns": ("title",), "storage": {"fillfactor": 75}},
        "ix_tricky": {
            "columns": ("id",),
            "unique": True,
            "where": f"title = '{TRICKY_SQL}'",
            "opclass": "text_pattern_ops",
        },
    }
    statements = []
    for name, overrides in specs.items():
        sql = render_create(
            parse(**overrides),
            dialect="postgresql",
            physical_name=name,
            physical_table="t",
            schema="s",
            concurrently=True,
        )
        statements += [sql, sql]  # IF NOT EXISTS makes the second one a no-op
    # Rendering must not depend on this setting: E'' strings mean the same either way.
    _psql(db, "SET standard_conforming_strings = off", *statements)

    names = _psql(db, "SELECT indexname FROM pg_indexes WHERE schemaname = 's' ORDER BY 1")
    assert set(names.split()) >= set(specs)

    def plan(query: str) -> str:
        return _psql(db, "ANALYZE s.t", "SET enable_seqscan = off", f"EXPLAIN {query}")

    assert "ix_res" in plan("SELECT id FROM s.t WHERE resource_id = 'r1'")
    assert "ix_kind" in plan(
        "SELECT id FROM s.t WHERE metadata->>'kind' = 'k1' AND archived AND n > 5 "
        "AND status <> 'gone'"
    )
    assert "ix_gin" in plan("""SELECT id FROM s.t WHERE metadata @> '{"kind": "k2"}'""")
    assert "ix_tricky" in plan(f"SELECT id FROM s.t WHERE title = $q${TRICKY}$q$ AND id > ''")
    assert _psql(db, f"SELECT id FROM s.t WHERE title = $q${TRICKY}$q$").split() == ["id5"]

    _psql(
        db,
        render_drop("ix_tricky", "s", "postgresql", concurrently=True),
        render_drop("ix_tricky", "s", "postgresql", concurrently=True),
    )
    names = _psql(db, "SELECT indexname FROM pg_indexes WHERE schemaname = 's'")
    assert "ix_tricky" not in names.split()
    assert _psql(db, "SELECT count(*) FROM s.t").strip() == "2000"
