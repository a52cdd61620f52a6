"""The single-table key design, written once as data.

Every item key and every index key the backend writes is rendered from the templates
below; ``spec.py`` builds CreateTable/CloudFormation from :data:`INDEXES`, and the README's
key table is :func:`markdown_table` (a test checks the README against it), so the code,
the table spec and the documentation cannot drift apart.

Template notation: ``{P}`` is the store's ``table_prefix`` (so several stores can share a
table); ``{name}`` is a variable component, *escaped*: ``\\x01`` becomes ``\\x01\\x02`` and
``\\x01\\x01`` is appended. Escaping makes composite keys injective (an id containing ``#``
cannot collide with another pair) and order-preserving: comparing two composite keys
byte-wise compares their components in turn, so ``(created_at, id)`` tuples sort exactly.
Timestamps (``{created_at}`` and friends) are fixed-width UTC ``YYYY-MM-DDTHH:MM:SS.ffffff``
so lexicographic order is chronological; ``{seq}`` is a 20-digit zero-padded integer.
"""

from __future__ import annotations

import datetime as _dt
import string
from collections.abc import Mapping
from typing import Any, Final

from attrs import frozen

__all__ = [
    "ENTITIES",
    "INDEXES",
    "LSI",
    "Access",
    "Entity",
    "IndexDef",
    "dec",
    "enc",
    "from_ts",
    "markdown_table",
    "render_keys",
    "ts",
]

#: How many characters of a title go into a sort key (DynamoDB caps sort keys at 1 KB).
TITLE_KEY_CHARS: Final = 200


@frozen
class IndexDef:
    """A physical index: name, partition attribute, sort attribute."""

    name: str
    pk: str
    sk: str
    local: bool = False


#: The local secondary index that orders a thread's messages by (created_at, save order).
LSI: Final = IndexDef("lsi1", "pk", "osk", local=True)
#: Overloaded global secondary indexes; each entity type gives the slots its own meaning.
GSIS: Final = tuple(IndexDef(f"gsi{n}", f"gsi{n}pk", f"gsi{n}sk") for n in range(1, 10))
INDEXES: Final = (LSI, *GSIS)
TABLE: Final = IndexDef("table", "pk", "sk")
_BY_NAME: Final = {i.name: i for i in (TABLE, *INDEXES)}


@frozen
class Access:
    """One key pair of an entity: on the table (its primary key) or on an index.

    ``when`` names a boolean of the entity's values: the index attributes are written only
    when it is true (a sparse index). An index key is also omitted when a component of its
    templates is None (e.g. a thread without ``agent_id`` is not in the by-agent indexes).
    """

    index: str
    pk: str
    sk: str
    serves: str
    when: str | None = None


@frozen
class Entity:
    name: str
    item: Access
    indexes: tuple[Access, ...] = ()

    def access(self, index: str) -> Access:
        for acc in self.indexes:
            if acc.index == index:
                return acc
        raise KeyError(f"{self.name} has no key on {index}")


def _a(index: str, pk: str, sk: str, serves: str, when: str | None = None) -> Access:
    return Access(index, pk, sk, serves, when)


_T_CREATED = "{created_at}#{id}"
_T_UPDATED = "{updated_at}#{id}"
_T_TITLE = "{title}{id}"
_RUN_SK = "{created_at}#{run_id}{workflow_name}"
_ROOT_SK = "{started_at}#{trace_id}{span_id}"

ENTITIES: Final = {
    e.name: e
    for e in (
        Entity("thread", _a("table", "{P}#THREAD#{id}", "#THREAD", "get/save/delete a thread"), (
            _a("gsi1", "{P}#THREADS_BY_RESOURCE#{resource_id}", _T_CREATED,
               "threads of a resource by created_at, id"),
            _a("gsi2", "{P}#THREADS_BY_RESOURCE#{resource_id}", _T_UPDATED,
               "threads of a resource by updated_at, id"),
            _a("gsi3", "{P}#THREADS_BY_RESOURCE#{resource_id}", _T_TITLE,
               "threads of a resource by title, id"),
            _a("gsi4", "{P}#THREADS_BY_AGENT#{agent_id}", _T_CREATED,
               "threads of an agent by created_at, id"),
            _a("gsi5", "{P}#THREADS_BY_AGENT#{agent_id}", _T_UPDATED,
               "threads of an agent by updated_at, id"),
            _a("gsi6", "{P}#THREADS_BY_AGENT#{agent_id}", _T_TITLE,
               "threads of an agent by title, id"),
            _a("gsi7", "{P}#THREADS", _T_CREATED, "all threads by created_at, id"),
            _a("gsi8", "{P}#THREADS", _T_UPDATED, "all threads by updated_at, id"),
            _a("gsi9", "{P}#THREADS", _T_TITLE, "all threads by title, id"),
        )),
        Entity("message", _a("table", "{P}#THREAD#{thread_id}", "MSG#{id}",
                             "a message in its thread's item collection (upsert by id)"), (
            _a("lsi1", "{P}#THREAD#{thread_id}", "{created_at}#{seq}",
               "a thread's messages by (created_at, save order): last-N, pages, windows"),
            _a("gsi1", "{P}#MSG#{id}", "MSG", "message id -> its item (and thread)"),
        )),
        Entity("resource", _a("table", "{P}#RESOURCE#{id}", "#RESOURCE",
                              "get/save/update a resource")),
        Entity("run", _a("table", "{P}#RUN#{workflow_name}{run_id}", "#RUN",
                         "a workflow run by (workflow_name, run_id)"), (
            _a("gsi1", "{P}#RUN_ID#{run_id}", _RUN_SK, "runs by run_id, newest first"),
            _a("gsi2", "{P}#RUNS_BY_WORKFLOW#{workflow_name}", _RUN_SK,
               "runs of a workflow, newest first"),
            _a("gsi3", "{P}#RUNS_BY_RESOURCE#{resource_id}", _RUN_SK,
               "runs of a resource, newest first"),
            _a("gsi4", "{P}#RUNS_BY_STATUS#{status}", _RUN_SK, "runs by status, newest first"),
            _a("gsi5", "{P}#RUNS", _RUN_SK, "all runs, newest first"),
        )),
        Entity("score", _a("table", "{P}#SCORE#{id}", "#SCORE", "a score by id"), (
            _a("gsi1", "{P}#SCORES_BY_SCORER#{scorer_id}", _T_CREATED,
               "scores of a scorer, newest first"),
            _a("gsi2", "{P}#SCORES_BY_RUN#{run_id}", _T_CREATED, "scores of a run, newest first"),
            _a("gsi3", "{P}#SCORES_BY_ENTITY#{entity_type}{entity_id}", _T_CREATED,
               "scores of an entity, newest first"),
            _a("gsi4", "{P}#SCORES_BY_TRACE#{trace_id}", _T_CREATED,
               "scores of a trace (span_id filtered), newest first"),
            _a("gsi5", "{P}#SCORES", _T_CREATED, "all scores (source filtered), newest first"),
        )),
        Entity("span", _a("table", "{P}#TRACE#{trace_id}", "SPAN#{span_id}",
                          "a span; a trace is one Query on its partition"), (
            _a("gsi1", "{P}#ROOTS", _ROOT_SK, "root spans, newest first", "is_root"),
            _a("gsi2", "{P}#ROOTS_BY_ENTITY#{entity_type}{entity_id}", _ROOT_SK,
               "root spans of an entity, newest first", "is_root"),
            _a("gsi3", "{P}#ROOTS_BY_AGENT#{agent_id}", _ROOT_SK,
               "root spans of an agent, newest first", "is_root"),
            _a("gsi4", "{P}#ROOTS_BY_RESOURCE#{resource_id}", _ROOT_SK,
               "root spans of a resource, newest first", "is_root"),
            _a("gsi5", "{P}#ROOTS_BY_NAME#{name}", _ROOT_SK,
               "root spans by name, newest first", "is_root"),
        )),
        Entity("agent", _a("table", "{P}#AGENT#{id}", "#AGENT",
                           "an agent's active version (head item)"), (
            _a("gsi1", "{P}#AGENTS_BY_STATUS#{status}", _T_CREATED,
               "agents by status, newest first"),
            _a("gsi2", "{P}#AGENTS", _T_CREATED, "all agents, newest first"),
        )),
        Entity("agent_version", _a("table", "{P}#AGENT#{id}", "V#{version}",
                                   "every version of an agent, oldest first")),
    )
}


# -- rendering -----------------------------------------------------------------------------


def enc(value: str) -> str:
    """Escape a variable key component: injective and order-preserving (module docstring)."""
    return value.replace("\x01", "\x01\x02") + "\x01\x01"


def dec(value: str) -> str:
    """The component :func:`enc` escaped (``value`` ends with its ``\\x01\\x01``)."""
    return value[:-2].replace("\x01\x02", "\x01")


def ts(value: _dt.datetime) -> str:
    """Fixed-width UTC timestamp: lexicographic order is chronological."""
    return value.astimezone(_dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def from_ts(text: str) -> _dt.datetime:
    """The datetime :func:`ts` rendered (aware, UTC)."""
    return _dt.datetime.fromisoformat(text).replace(tzinfo=_dt.UTC)


def seq_text(seq: int) -> str:
    return f"{seq:020d}"


def version_text(version: int) -> str:
    return f"{version:010d}"


_FORMATTER: Final = string.Formatter()


def fields_of(template: str) -> list[str]:
    return [f for _, f, _, _ in _FORMATTER.parse(template) if f]


def render(template: str, values: Mapping[str, Any]) -> str | None:
    """Fill ``template`` from already-encoded ``values``; None if a component is None."""
    parts = {}
    for name in fields_of(template):
        value = values.get(name)
        if value is None:
            return None
        parts[name] = value
    return template.format(**parts)


def render_keys(entity: str, values: Mapping[str, Any]) -> dict[str, str | None]:
    """Every key attribute of one item: ``pk``, ``sk`` and each index's attributes.

    A value of None means "this index does not hold the item": the caller removes the
    attribute (a sparse index).
    """
    ent = ENTITIES[entity]
    out: dict[str, str | None] = {}
    pk = render(ent.item.pk, values)
    sk = render(ent.item.sk, values)
    if pk is None or sk is None:
        raise ValueError(f"{entity}: missing key component")
    out["pk"], out["sk"] = pk, sk
    for acc in ent.indexes:
        idx = _BY_NAME[acc.index]
        on = acc.when is None or bool(values.get(acc.when))
        ipk = render(acc.pk, values) if on else None
        isk = render(acc.sk, values) if on else None
        if idx.local:
            out[idx.sk] = isk if ipk is not None else None
        else:
            both = ipk is not None and isk is not None
            out[idx.pk] = ipk if both else None
            out[idx.sk] = isk if both else None
    return out


def index_pk(entity: str, index: str, values: Mapping[str, Any]) -> str:
    """The partition value to Query ``index`` with, for ``entity``."""
    acc = ENTITIES[entity].access(index)
    value = render(acc.pk, values)
    if value is None:
        raise ValueError(f"{entity}/{index}: missing partition component")
    return value


def index_def(name: str) -> IndexDef:
    return _BY_NAME[name]


def markdown_table() -> str:
    """The key design as a Markdown table (embedded in the plugin README)."""
    rows = ["| entity | index | partition key | sort key | serves |", "|---|---|---|---|---|"]

    def cell(text: str) -> str:
        return "`" + text.replace("|", "\\|") + "`"

    for ent in ENTITIES.values():
        for acc in (ent.item, *ent.indexes):
            idx = _BY_NAME[acc.index]
            where = acc.index if acc.index == "table" else f"{acc.index} ({idx.pk}, {idx.sk})"
            serves = acc.serves + (f" (only when {acc.when})" if acc.when else "")
            rows.append(f"| {ent.name} | {where} | {cell(acc.pk)} | {cell(acc.sk)} | {serves} |")
    return "\n".join(rows)
