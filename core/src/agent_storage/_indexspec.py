"""Parse, validate and render index specs: the only path from an IndexSpec to SQL.

An IndexSpec comes from user code (or a config file), so every part of it is treated as
hostile. Columns and the ``where`` predicate are tokenized and parsed into a small AST,
the method, opclass and storage parameters are checked against allowlists, and the SQL is
rendered from the validated structure alone: identifiers are always double-quoted and
literals re-rendered by this module. No text of the spec is ever pasted into a statement.

This module takes plain values (not ``options.IndexSpec``) so options.py can import it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Final, Literal, NoReturn, TypeAlias

from attrs import frozen

from .errors import InvalidIndexSpecError, NotSupportedError
from .naming import LOGICAL_TABLES, MAX_IDENTIFIER_BYTES, quote_name

__all__ = [
    "LOGICAL_TABLES",
    "MAX_WHERE_DEPTH",
    "MAX_WHERE_LENGTH",
    "METHODS",
    "STORAGE_PARAMETERS",
    "BoolOp",
    "ColumnRef",
    "Comparison",
    "Constant",
    "Dialect",
    "IndexColumn",
    "JsonPath",
    "Not",
    "NullTest",
    "Operand",
    "ParsedIndex",
    "Predicate",
    "StorageValue",
    "check_identifier",
    "parse_index",
    "parse_where",
    "quote_ident",
    "render_create",
    "render_drop",
    "render_predicate",
]

Dialect: TypeAlias = Literal["postgresql", "sqlite"]
StorageValue: TypeAlias = int | bool | str

METHODS: Final = ("btree", "hash", "gin", "gist", "spgist", "brin")
MAX_COLUMNS: Final = 32  # PostgreSQL's INDEX_MAX_KEYS
MAX_COLUMN_LENGTH: Final = 300
MAX_WHERE_LENGTH: Final = 1000
MAX_WHERE_DEPTH: Final = 32  # nesting of parentheses and NOT; bounds the recursion
MAX_JSON_PATH_KEYS: Final = 8
MAX_JSON_KEY_LENGTH: Final = 128
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_JSON_KEY = re.compile(r"[A-Za-z0-9_ .\-]+", re.ASCII)
# Control characters have no business in an index predicate and NUL cannot be stored.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# Words with a meaning in the grammars below; never read as column names.
_KEYWORDS: Final = frozenset(
    {"AND", "OR", "NOT", "IS", "NULL", "TRUE", "FALSE", "ASC", "DESC", "NULLS", "FIRST", "LAST"}
)
_COMPARISON_OPS: Final = frozenset({"=", "<>", "<", "<=", ">", ">="})


# --------------------------------------------------------------------------- AST


@frozen(kw_only=True)
class ColumnRef:
    """A plain column, e.g. ``status``."""

    name: str


@frozen(kw_only=True)
class JsonPath:
    """``column->'a'->>'b'``: text value of a key inside a JSON column."""

    column: str
    keys: tuple[str, ...]


Operand: TypeAlias = ColumnRef | JsonPath


@frozen(kw_only=True)
class Constant:
    """A literal: string, integer, float, boolean or NULL (``None``)."""

    value: str | int | float | bool | None


@frozen(kw_only=True)
class Comparison:
    """``left op right``; at least one side is an operand. ``op`` is normalised (!= -> <>)."""

    left: Operand | Constant
    op: str
    right: Operand | Constant


@frozen(kw_only=True)
class NullTest:
    """``operand IS [NOT] NULL``."""

    operand: Operand
    negated: bool


@frozen(kw_only=True)
class Not:
    operand: Predicate


@frozen(kw_only=True)
class BoolOp:
    """``AND`` / ``OR`` over two or more predicates (flattened)."""

    op: Literal["AND", "OR"]
    operands: tuple[Predicate, ...]


Predicate: TypeAlias = Comparison | NullTest | Not | BoolOp


@frozen(kw_only=True)
class IndexColumn:
    """One key of the index: an operand with optional ordering (btree only)."""

    expr: Operand
    order: Literal["ASC", "DESC"] | None = None
    nulls: Literal["FIRST", "LAST"] | None = None


@frozen(kw_only=True)
class ParsedIndex:
    """A validated index spec; the only input the renderers accept."""

    name: str
    table: str
    columns: tuple[IndexColumn, ...]
    unique: bool = False
    where: Predicate | None = None
    method: str = "btree"
    opclass: str | None = None
    storage: tuple[tuple[str, StorageValue], ...] = ()


# ------------------------------------------------------------- storage params


@frozen(kw_only=True)
class _StorageParam:
    methods: frozenset[str]
    kind: Literal["int", "bool", "buffering"]
    low: int = 0
    high: int = 0


#: PostgreSQL index storage parameters we accept, with the methods that know them.
STORAGE_PARAMETERS: Final[Mapping[str, _StorageParam]] = {
    "fillfactor": _StorageParam(
        methods=frozenset({"btree", "hash", "gist", "spgist"}), kind="int", low=10, high=100
    ),
    "deduplicate_items": _StorageParam(methods=frozenset({"btree"}), kind="bool"),
    "fastupdate": _StorageParam(methods=frozenset({"gin"}), kind="bool"),
    "gin_pending_list_limit": _StorageParam(
        methods=frozenset({"gin"}), kind="int", low=64, high=2**31 - 1
    ),
    "buffering": _StorageParam(methods=frozenset({"gist"}), kind="buffering"),
    "pages_per_range": _StorageParam(methods=frozenset({"brin"}), kind="int", low=1, high=131072),
    "autosummarize": _StorageParam(methods=frozenset({"brin"}), kind="bool"),
}
_BUFFERING_VALUES: Final = ("on", "off", "auto")


# -------------------------------------------------------------------- helpers


def _fail(part: str, detail: str) -> NoReturn:
    raise InvalidIndexSpecError(f"IndexSpec.{part}: {detail}")


def _show(value: object, limit: int = 40) -> str:
    """repr() for error messages, cut short so a huge hostile value does not flood logs."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_identifier(name: object, what: str) -> str:
    """Return ``name`` if it is ``[A-Za-z_][A-Za-z0-9_]*`` and at most 63 bytes.

    Raises InvalidIndexSpecError naming ``what`` (e.g. ``"name"``, ``"columns[0]"``).
    """
    if not isinstance(name, str):
        _fail(what, f"expected a string, got {type(name).__name__}")
    if not _IDENTIFIER.fullmatch(name):
        _fail(
            what,
            f"{_show(name)} is not a valid identifier: use letters, digits and '_', "
            "starting with a letter or '_'",
        )
    if len(name.encode()) > MAX_IDENTIFIER_BYTES:
        _fail(what, f"{_show(name)} is longer than {MAX_IDENTIFIER_BYTES} bytes")
    return name


def quote_ident(name: str) -> str:
    """Double-quote an identifier (:func:`agent_storage.naming.quote_name`; validation
    already forbids quotes in the names of an index spec)."""
    return quote_name(name)


# ------------------------------------------------------------------ tokenizer

_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r\n]+)
    |(?P<string>'(?:[^']|'')*')
    |(?P<number>-?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][+-]?[0-9]+)?)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<arrow>->>|->)
    |(?P<op><=|>=|<>|!=|=|<|>)
    |(?P<lparen>\()
    |(?P<rparen>\))
    """,
    re.VERBOSE | re.ASCII,
)


@frozen
class _Token:
    kind: str  # string | number | ident | arrow | op | lparen | rparen | end
    text: str
    pos: int


def _tokenize(text: str, part: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            rest = text[pos:]
            if rest.startswith(";"):
                detail = "';' is not allowed"
            elif rest.startswith(("--", "/*")):
                detail = "comments are not allowed"
            elif rest.startswith("'"):
                detail = "unterminated string literal"
            elif rest.startswith('"'):
                detail = "double-quoted identifiers are not allowed; write the name bare"
            else:
                detail = f"unexpected character {_show(rest[0])}"
            _fail(part, f"{detail} (at position {pos})")
        kind = match.lastgroup
        assert kind is not None
        if kind != "ws":
            tokens.append(_Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


# --------------------------------------------------------------------- parser


class _Parser:
    """Recursive descent over the token list; ``part`` names the spec field in errors."""

    def __init__(self, text: str, part: str) -> None:
        self.part = part
        self.tokens = _tokenize(text, part)
        self.index = 0
        self.depth = 0

    # token access

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def error(self, detail: str, token: _Token | None = None) -> NoReturn:
        token = token or self.current
        found = "end of input" if token.kind == "end" else _show(token.text)
        _fail(self.part, f"{detail}, found {found} (at position {token.pos})")

    def at_keyword(self, *words: str) -> bool:
        token = self.current
        return token.kind == "ident" and token.text.upper() in words

    def expect_keyword(self, word: str) -> None:
        if not self.at_keyword(word):
            self.error(f"expected {word}")
        self.advance()

    def expect_end(self) -> None:
        if self.current.kind != "end":
            self.error("unexpected trailing input")

    # operands

    def operand(self) -> Operand:
        token = self.current
        if token.kind != "ident" or token.text.upper() in _KEYWORDS:
            self.error("expected a column name or JSON path")
        self.advance()
        if self.current.kind == "lparen":
            self.error("function calls are not allowed")
        name = check_identifier(token.text, self.part)
        keys: list[str] = []
        arrows: list[str] = []
        while self.current.kind == "arrow":
            arrows.append(self.advance().text)
            key_token = self.current
            if key_token.kind != "string":
                self.error("expected a quoted JSON key after the arrow")
            self.advance()
            keys.append(self.json_key(key_token))
        if not keys:
            return ColumnRef(name=name)
        if len(keys) > MAX_JSON_PATH_KEYS:
            _fail(self.part, f"JSON path is deeper than {MAX_JSON_PATH_KEYS} keys")
        # Only ->> yields text, which is what both dialects can index and compare alike.
        if arrows[-1] != "->>" or any(arrow != "->" for arrow in arrows[:-1]):
            _fail(
                self.part,
                "a JSON path is column->'key'...->>'key': '->' between keys, '->>' last",
            )
        return JsonPath(column=name, keys=tuple(keys))

    def json_key(self, token: _Token) -> str:
        key = token.text[1:-1].replace("''", "'")
        if len(key) > MAX_JSON_KEY_LENGTH or not _JSON_KEY.fullmatch(key):
            _fail(
                self.part,
                f"JSON key {_show(key)} must be 1-{MAX_JSON_KEY_LENGTH} characters of "
                "letters, digits, space, '_', '.' and '-' (at position "
                f"{token.pos})",
            )
        return key

    # column spec: operand [ASC|DESC] [NULLS FIRST|LAST]

    def index_column(self) -> IndexColumn:
        expr = self.operand()
        order: Literal["ASC", "DESC"] | None = None
        nulls: Literal["FIRST", "LAST"] | None = None
        if self.at_keyword("ASC"):
            self.advance()
            order = "ASC"
        elif self.at_keyword("DESC"):
            self.advance()
            order = "DESC"
        if self.at_keyword("NULLS"):
            self.advance()
            if self.at_keyword("FIRST"):
                nulls = "FIRST"
            elif self.at_keyword("LAST"):
                nulls = "LAST"
            else:
                self.error("expected FIRST or LAST after NULLS")
            self.advance()
        self.expect_end()
        return IndexColumn(expr=expr, order=order, nulls=nulls)

    # predicate grammar

    def predicate(self) -> Predicate:
        return self.or_expr()

    def or_expr(self) -> Predicate:
        items = [self.and_expr()]
        while self.at_keyword("OR"):
            self.advance()
            items.append(self.and_expr())
        return _combine("OR", items)

    def and_expr(self) -> Predicate:
        items = [self.not_expr()]
        while self.at_keyword("AND"):
            self.advance()
            items.append(self.not_expr())
        return _combine("AND", items)

    def not_expr(self) -> Predicate:
        if self.at_keyword("NOT"):
            self.advance()
            with _Nesting(self):
                return Not(operand=self.not_expr())
        return self.primary()

    def primary(self) -> Predicate:
        if self.current.kind == "lparen":
            self.advance()
            with _Nesting(self):
                inner = self.predicate()
            if self.current.kind != "rparen":
                self.error("expected ')'")
            self.advance()
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        start = self.current
        left = self.term()
        if self.at_keyword("IS"):
            self.advance()
            negated = self.at_keyword("NOT")
            if negated:
                self.advance()
            self.expect_keyword("NULL")
            if isinstance(left, Constant):
                self.error("IS [NOT] NULL needs a column or JSON path", start)
            return NullTest(operand=left, negated=negated)
        if self.current.kind != "op":
            self.error("expected a comparison operator (= <> != < <= > >=) or IS [NOT] NULL")
        op = self.advance().text
        op = "<>" if op == "!=" else op
        right = self.term()
        self._check_comparison(left, right, start)
        return Comparison(left=left, op=op, right=right)

    def _check_comparison(
        self, left: Operand | Constant, right: Operand | Constant, start: _Token
    ) -> None:
        if isinstance(left, Constant) and isinstance(right, Constant):
            self.error("a comparison needs a column or JSON path on one side", start)
        for side, other in ((left, right), (right, left)):
            if isinstance(side, Constant) and side.value is None:
                self.error("comparing with NULL is never true; use IS [NOT] NULL", start)
            if (
                isinstance(side, JsonPath)
                and isinstance(other, Constant)
                and not isinstance(other.value, str)
            ):
                # ->> yields text on both dialects; a number would compare differently.
                self.error("a JSON path (->>) is text: compare it with a quoted string", start)

    def term(self) -> Operand | Constant:
        token = self.current
        if token.kind == "string":
            self.advance()
            return Constant(value=self.string_value(token))
        if token.kind == "number":
            self.advance()
            return Constant(value=self.number_value(token))
        if token.kind == "ident":
            word = token.text.upper()
            if word in ("TRUE", "FALSE"):
                self.advance()
                return Constant(value=word == "TRUE")
            if word == "NULL":
                self.advance()
                return Constant(value=None)
        return self.operand()

    def string_value(self, token: _Token) -> str:
        value = token.text[1:-1].replace("''", "'")
        if _CONTROL.search(value):
            self.error("control characters are not allowed in string literals", token)
        return value

    def number_value(self, token: _Token) -> int | float:
        text = token.text
        if re.fullmatch(r"-?[0-9]+", text):
            number = int(text)
            if not _INT64_MIN <= number <= _INT64_MAX:
                self.error("integer out of 64-bit range", token)
            return number
        value = float(text)
        if not math.isfinite(value):
            self.error("number out of range", token)
        return value


class _Nesting:
    """Counts nesting depth so a hostile predicate cannot exhaust the Python stack."""

    def __init__(self, parser: _Parser) -> None:
        self.parser = parser

    def __enter__(self) -> None:
        self.parser.depth += 1
        if self.parser.depth > MAX_WHERE_DEPTH:
            _fail(self.parser.part, f"nested deeper than {MAX_WHERE_DEPTH} levels")

    def __exit__(self, *exc: object) -> None:
        self.parser.depth -= 1


def _combine(op: Literal["AND", "OR"], items: list[Predicate]) -> Predicate:
    if len(items) == 1:
        return items[0]
    flat: list[Predicate] = []
    for item in items:
        # a AND (b AND c) == a AND b AND c: flatten for a canonical tree.
        if isinstance(item, BoolOp) and item.op == op:
            flat.extend(item.operands)
        else:
            flat.append(item)
    return BoolOp(op=op, operands=tuple(flat))


# -------------------------------------------------------------------- parsing


def parse_where(text: object) -> Predicate:
    """Parse an index predicate; raises InvalidIndexSpecError naming ``where``."""
    if not isinstance(text, str):
        _fail("where", f"expected a string or None, got {type(text).__name__}")
    if len(text) > MAX_WHERE_LENGTH:
        _fail("where", f"longer than {MAX_WHERE_LENGTH} characters")
    if not text.strip():
        _fail("where", "is empty; use None for a full index")
    parser = _Parser(text, "where")
    predicate = parser.predicate()
    parser.expect_end()
    return predicate


def _parse_column(text: object, part: str) -> IndexColumn:
    if not isinstance(text, str):
        _fail(part, f"expected a string, got {type(text).__name__}")
    if len(text) > MAX_COLUMN_LENGTH:
        _fail(part, f"longer than {MAX_COLUMN_LENGTH} characters")
    return _Parser(text, part).index_column()


def _parse_storage(storage: object, method: str) -> tuple[tuple[str, StorageValue], ...]:
    if not isinstance(storage, Mapping):
        _fail("storage", f"expected a mapping, got {type(storage).__name__}")
    items: list[tuple[str, StorageValue]] = []
    for key, value in storage.items():
        if not isinstance(key, str) or key not in STORAGE_PARAMETERS:
            _fail(
                "storage",
                f"unknown storage parameter {_show(key)}; expected one of "
                f"{sorted(STORAGE_PARAMETERS)}",
            )
        param = STORAGE_PARAMETERS[key]
        part = f"storage[{key!r}]"
        if method not in param.methods:
            _fail(part, f"applies to {sorted(param.methods)} indexes, not {method}")
        items.append((key, _storage_value(param, value, part)))
    return tuple(sorted(items))


def _storage_value(param: _StorageParam, value: object, part: str) -> StorageValue:
    if param.kind == "bool":
        if not isinstance(value, bool):
            _fail(part, f"expected True or False, got {_show(value)}")
        return value
    if param.kind == "buffering":
        if isinstance(value, bool) or value in _BUFFERING_VALUES:
            assert isinstance(value, bool | str)
            return value
        _fail(part, f"expected True, False or one of {list(_BUFFERING_VALUES)}, got {_show(value)}")
    # bool is an int subclass; fillfactor=True is a mistake, not 1.
    if not isinstance(value, int) or isinstance(value, bool):
        _fail(part, f"expected an integer, got {_show(value)}")
    if not param.low <= value <= param.high:
        _fail(part, f"{value} is outside {param.low}..{param.high}")
    return value


def parse_index(
    *,
    name: object,
    table: object,
    columns: object,
    unique: object = False,
    where: object = None,
    method: object = "btree",
    opclass: object = None,
    storage: object = None,
) -> ParsedIndex:
    """Validate every part of an index spec; raise InvalidIndexSpecError naming the bad part."""
    name = check_identifier(name, "name")
    if not isinstance(table, str) or table not in LOGICAL_TABLES:
        _fail("table", f"unknown table {_show(table)}; expected one of {list(LOGICAL_TABLES)}")
    if not isinstance(method, str) or method not in METHODS:
        _fail("method", f"{_show(method)} is not one of {list(METHODS)}")
    if not isinstance(unique, bool):
        _fail("unique", f"expected True or False, got {_show(unique)}")

    # A bare string would iterate as characters: demand a real sequence.
    if isinstance(columns, str | bytes) or not isinstance(columns, Sequence):
        _fail("columns", f"expected a tuple of column strings, got {type(columns).__name__}")
    if not columns:
        _fail("columns", "at least one column is required")
    if len(columns) > MAX_COLUMNS:
        _fail("columns", f"at most {MAX_COLUMNS} columns are allowed")
    parsed_columns = tuple(_parse_column(col, f"columns[{i}]") for i, col in enumerate(columns))
    if len({col.expr for col in parsed_columns}) != len(parsed_columns):
        _fail("columns", "a column is listed more than once")

    if method != "btree":
        if unique:
            _fail("unique", f"only btree indexes can be unique, not {method}")
        if any(col.order or col.nulls for col in parsed_columns):
            _fail("columns", f"ASC/DESC/NULLS ordering applies to btree indexes, not {method}")
    if method in ("hash", "spgist") and len(parsed_columns) > 1:
        _fail("columns", f"{method} indexes take exactly one column")

    if opclass is not None:
        # PostgreSQL folds unquoted names to lower case; we always quote, so fold here.
        opclass = check_identifier(opclass, "opclass").lower()

    return ParsedIndex(
        name=name,
        table=table,
        columns=parsed_columns,
        unique=unique,
        where=None if where is None else parse_where(where),
        method=method,
        opclass=opclass,
        storage=() if storage is None else _parse_storage(storage, method),
    )


# ------------------------------------------------------------------ rendering


def _check_dialect(dialect: object) -> Dialect:
    if dialect == "postgresql":
        return "postgresql"
    if dialect == "sqlite":
        return "sqlite"
    raise NotSupportedError(f"index SQL dialect {_show(dialect)} is not supported")


def _render_string(value: str, dialect: Dialect) -> str:
    escaped = value.replace("'", "''")
    if dialect == "postgresql" and "\\" in value:
        # With standard_conforming_strings=off a backslash would escape the closing quote;
        # an E'' string means the same on every setting.
        return "E'" + escaped.replace("\\", "\\\\") + "'"
    return "'" + escaped + "'"


def _render_constant(constant: Constant, dialect: Dialect) -> str:
    value = constant.value
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        if dialect == "postgresql":
            return "TRUE" if value else "FALSE"
        return "1" if value else "0"
    if isinstance(value, int | float):
        text = repr(value)  # validated finite int64 / float: repr is valid SQL in both
        return f"({text})" if value < 0 else text
    return _render_string(value, dialect)


def _render_operand(operand: Operand | Constant, dialect: Dialect) -> str:
    if isinstance(operand, Constant):
        return _render_constant(operand, dialect)
    if isinstance(operand, ColumnRef):
        return quote_ident(operand.name)
    column = quote_ident(operand.column)
    if dialect == "postgresql":
        arrows = [f"->{_render_string(key, dialect)}" for key in operand.keys[:-1]]
        arrows.append(f"->>{_render_string(operand.keys[-1], dialect)}")
        return f"({column}{''.join(arrows)})"
    # Keys are quoted JSON path labels, so '.' or ' ' inside a key stays one label.
    path = "$" + "".join(f'."{key}"' for key in operand.keys)
    return f"json_extract({column}, {_render_string(path, dialect)})"


def render_predicate(predicate: Predicate, dialect: Dialect) -> str:
    """Render a parsed predicate; compound children are parenthesised, NOT always is."""
    dialect = _check_dialect(dialect)
    if isinstance(predicate, Comparison):
        left = _render_operand(predicate.left, dialect)
        right = _render_operand(predicate.right, dialect)
        return f"{left} {predicate.op} {right}"
    if isinstance(predicate, NullTest):
        keyword = "IS NOT NULL" if predicate.negated else "IS NULL"
        return f"{_render_operand(predicate.operand, dialect)} {keyword}"
    if isinstance(predicate, Not):
        return f"NOT ({render_predicate(predicate.operand, dialect)})"
    parts = []
    for item in predicate.operands:
        text = render_predicate(item, dialect)
        parts.append(f"({text})" if isinstance(item, BoolOp) else text)
    return f" {predicate.op} ".join(parts)


def _qualified(schema: str | None, name: str) -> str:
    return quote_ident(name) if schema is None else f"{quote_ident(schema)}.{quote_ident(name)}"


def render_create(
    parsed: ParsedIndex,
    *,
    dialect: Dialect,
    physical_name: str,
    physical_table: str,
    schema: str | None,
    if_not_exists: bool = True,
    concurrently: bool = False,
) -> str:
    """CREATE INDEX for ``parsed``.

    PostgreSQL creates the index in the table's schema, so only the table is qualified.
    SQLite qualifies the index instead (its ``schema`` is an attached database) and has no
    CONCURRENTLY: it is ignored there, since SQLite locks the database for DDL anyway.
    Methods other than btree, opclasses, storage parameters and NULLS FIRST/LAST raise
    NotSupportedError on SQLite.
    """
    if not isinstance(parsed, ParsedIndex):
        raise TypeError("render_create needs a ParsedIndex from parse_index()")
    dialect = _check_dialect(dialect)
    words = ["CREATE", "UNIQUE INDEX" if parsed.unique else "INDEX"]
    if dialect == "postgresql":
        if concurrently:
            words.append("CONCURRENTLY")
        if if_not_exists:
            words.append("IF NOT EXISTS")
        words += [quote_ident(physical_name), "ON", _qualified(schema, physical_table)]
        words.append(f"USING {quote_ident(parsed.method)}")
    else:
        _check_sqlite(parsed)
        if if_not_exists:
            words.append("IF NOT EXISTS")
        words += [_qualified(schema, physical_name), "ON", quote_ident(physical_table)]
    keys = []
    for col in parsed.columns:
        text = _render_operand(col.expr, dialect)
        if parsed.opclass is not None:
            text += f" {quote_ident(parsed.opclass)}"
        if col.order:
            text += f" {col.order}"
        if col.nulls:
            text += f" NULLS {col.nulls}"
        keys.append(text)
    words.append(f"({', '.join(keys)})")
    if parsed.storage:
        params = ", ".join(f"{key} = {_render_storage(value)}" for key, value in parsed.storage)
        words.append(f"WITH ({params})")
    if parsed.where is not None:
        words.append(f"WHERE {render_predicate(parsed.where, dialect)}")
    return " ".join(words)


def _render_storage(value: StorageValue) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    return _render_string(value, "postgresql")


def _check_sqlite(parsed: ParsedIndex) -> None:
    where = f"index {parsed.name!r}"
    if parsed.method != "btree":
        raise NotSupportedError(f"{where}: SQLite supports only btree indexes, not {parsed.method}")
    if parsed.opclass is not None:
        raise NotSupportedError(f"{where}: SQLite has no operator classes")
    if parsed.storage:
        raise NotSupportedError(f"{where}: SQLite has no index storage parameters")
    if any(col.nulls for col in parsed.columns):
        raise NotSupportedError(f"{where}: SQLite indexes do not support NULLS FIRST/LAST")


def render_drop(
    physical_name: str,
    schema: str | None,
    dialect: Dialect,
    *,
    if_exists: bool = True,
    concurrently: bool = False,
) -> str:
    """DROP INDEX; ``concurrently`` applies to PostgreSQL only."""
    dialect = _check_dialect(dialect)
    words = ["DROP INDEX"]
    if concurrently and dialect == "postgresql":
        words.append("CONCURRENTLY")
    if if_exists:
        words.append("IF EXISTS")
    words.append(_qualified(schema, physical_name))
    return " ".join(words)
