"""Copy every record of a store into another, on any two backends, then verify the copy.

::

    from agent_storage import open_store
    from agent_storage.copy import copy_store

    report = await copy_store(open_store("sqlite:///old.db"), open_store("postgresql://..."),
                              progress="rich")

What moves, kind by kind (``domains`` picks which domains):

========================  ==================================================================
memory: threads           streamed by keyset pagination (``threads()``), oldest first
memory: messages          per thread, page by page, in (created_at, save order)
memory: resources         every resource referenced by a copied record (see limits)
workflows: workflow_runs  ``list_runs`` pages; snapshot, status and timestamps kept
scores: scores            ``list_scores`` pages
observability: spans      every trace that has a root span (``list_traces`` + ``get_trace``)
agents: agents, versions  every version in order, then the source's active version
========================  ==================================================================

Message vectors (semantic recall) go with their messages, read and written as stored
(no embedder is called), when both stores were opened with an embedder of the same model
and dimensions; two different models raise EmbedderMismatchError before anything is
written. A source without an embedder has none to carry; a destination without one gets the
messages only (``memory.embed_missing()`` or ``agent-storage embed`` adds them later).

Memory use is bounded by ``batch_size`` records (plus one trace, and the set of resource
ids). Writes are upserts by id, so an interrupted copy is resumed by running it again;
records are written with their own timestamps (``created_at``, ``updated_at``), so the
copy is faithful, not a replay.

Verification: for each kind, the number of records and a content checksum (an
order-independent sum of SHA-256 digests of ``serde.to_wire(record)`` as canonical JSON) are
computed on the source during the copy and re-read from the destination afterwards; any
difference raises :class:`CopyVerificationError`, whose ``report`` says which kinds differ.
A destination that held other records before the copy therefore fails verification: copy
into an empty store (or into an earlier, interrupted copy of the same source).

Limits (also in docs/copy.md):

* Resources have no listing API, so only resources referenced by a thread, message,
  workflow run, score or span of the copied domains are found.
* Spans of a trace with no root span are not listed by ``list_traces`` and are not copied.
* Agent version 1's ``AgentVersion.created_at`` is the time the version row was written
  by the destination (``create_agent`` records its own time); it is left out of the
  checksum. Every other field of every version, and the active version, are kept.
* A message's ``resource_id`` is the owner of its thread in the destination (as
  ``save_messages`` defines it); a source message whose owner differs from its thread's
  current owner shows up as a verification difference.
* The source should not change during the copy; if it does, verification reports it and
  running the copy again brings the destination up to date (deletions are not propagated).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Final, Protocol, TypeVar

from attrs import evolve, frozen

from .domains import DOMAIN_NAMES
from .domains._base import Domain
from .errors import AgentStorageError, DomainNotAvailableError, ValidationError
from .records import AGENT_UPDATABLE, AgentConfig, AgentVersion, Resource, Thread
from .serde import to_wire
from .storage import Storage
from .vectors import EmbedderMismatchError

__all__ = [
    "KINDS",
    "CopyReport",
    "CopyVerificationError",
    "KindReport",
    "ProgressCallback",
    "copy_store",
    "record_digest",
    "store_digests",
]

T = TypeVar("T")

#: (domain, kind) in copy order. Resources come after every kind that references them.
KINDS: Final = (
    ("memory", "threads"),
    ("memory", "messages"),
    ("workflows", "workflow_runs"),
    ("scores", "scores"),
    ("observability", "spans"),
    ("memory", "resources"),
    ("agents", "agents"),
    ("agents", "agent_versions"),
)

_MOD: Final = 1 << 256


class ProgressCallback(Protocol):
    """Called as records move, positionally: ``kind``, records done so far, the expected
    total (or None), and ``phase`` (``"copy"``, or ``"verify"`` for the re-read)."""

    def __call__(self, kind: str, done: int, total: int | None, phase: str) -> None: ...


class CopyVerificationError(AgentStorageError):
    """The destination does not hold exactly the source's records after a copy."""

    def __init__(self, message: str, report: CopyReport) -> None:
        super().__init__(message)
        self.report = report


@frozen(kw_only=True)
class KindReport:
    """One kind of record: how many were copied, and what each side holds."""

    domain: str
    kind: str
    copied: int
    source_count: int
    source_checksum: str
    target_count: int | None = None
    target_checksum: str | None = None

    @property
    def ok(self) -> bool:
        mine = (self.source_count, self.source_checksum)
        return mine == (self.target_count, self.target_checksum)


@frozen(kw_only=True)
class CopyReport:
    """What :func:`copy_store` did, kind by kind."""

    kinds: tuple[KindReport, ...] = ()
    verified: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Verified and every kind matches."""
        return self.verified and all(k.ok for k in self.kinds)

    @property
    def copied(self) -> int:
        return sum(k.copied for k in self.kinds)

    def __getitem__(self, kind: str) -> KindReport:
        for item in self.kinds:
            if item.kind == kind:
                return item
        raise KeyError(kind)

    def summary(self) -> str:
        """One line per kind: ``threads  120 -> 120  ok``."""
        lines = []
        for k in self.kinds:
            target = "?" if k.target_count is None else str(k.target_count)
            state = "ok" if k.ok else ("not verified" if k.target_count is None else "DIFFERS")
            lines.append(f"{k.kind:<15} {k.source_count:>8} -> {target:>8}  {state}")
        return "\n".join(lines)


# -- checksums ----------------------------------------------------------------------------


def _canonical(record: Any, drop: Iterable[str] = ()) -> bytes:
    wire = to_wire(record)
    for name in drop:
        wire.pop(name, None)
    text = json.dumps(wire, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)
    return text.encode("utf-8")


def record_digest(record: Any, *, drop: Iterable[str] = ()) -> int:
    """SHA-256 of the record's canonical wire JSON (``drop``: top-level fields left out)."""
    return int.from_bytes(hashlib.sha256(_canonical(record, drop)).digest(), "big")


class _Digest:
    """Count plus an order-independent checksum (sum of digests mod 2**256): the same
    records give the same value in any order, in constant memory."""

    def __init__(self) -> None:
        self.count = 0
        self.total = 0

    def add(self, record: Any, *, drop: Iterable[str] = ()) -> None:
        self.count += 1
        self.total = (self.total + record_digest(record, drop=drop)) % _MOD

    @property
    def hexdigest(self) -> str:
        return f"{self.total:064x}"


def _version_drop(version: AgentVersion) -> tuple[str, ...]:
    # Version 1's row time is set by create_agent on the destination (documented limit).
    return ("created_at",) if version.version == 1 else ()


# -- progress -------------------------------------------------------------------------------


class _Progress:
    """Fans progress out to a callback, a rich bar or a tqdm bar (optional dependencies)."""

    def __init__(self, progress: Any) -> None:
        self.callback: Callable[..., None] | None = None
        self.bars: Any = None
        self.tasks: dict[tuple[str, str], Any] = {}
        self.kind: str | None = None
        if progress is None or progress is False:
            return
        if callable(progress):
            self.callback = progress
            return
        if progress is True:
            progress = "auto"
        if progress not in ("auto", "rich", "tqdm"):
            raise ValidationError(
                f"progress: expected a callback, True, 'rich', 'tqdm' or None, got {progress!r}")
        if progress in ("auto", "rich"):
            try:
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    Progress,
                    TextColumn,
                    TimeElapsedColumn,
                )
            except ImportError:
                if progress == "rich":
                    raise ValidationError(
                        'progress="rich" needs rich: pip install "agent-storage[cli]"'
                    ) from None
            else:
                self.kind = "rich"
                self.bars = Progress(TextColumn("{task.description:<28}"), BarColumn(),
                                     MofNCompleteColumn(), TimeElapsedColumn(), transient=False)
                return
        try:
            import tqdm  # noqa: F401
        except ImportError:
            wanted = "tqdm" if progress == "tqdm" else "rich or tqdm"
            raise ValidationError(
                f"a progress bar needs {wanted}: pip install \"agent-storage[progress]\" "
                "(tqdm) or \"agent-storage[cli]\" (rich)") from None
        self.kind = "tqdm"
        self.bars = {}

    def __enter__(self) -> _Progress:
        if self.kind == "rich":
            self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.kind == "rich":
            self.bars.stop()
        elif self.kind == "tqdm":
            for bar in self.bars.values():
                bar.close()

    def update(self, kind: str, done: int, total: int | None, phase: str) -> None:
        if self.callback is not None:
            self.callback(kind, done, total, phase)
        key = (phase, kind)
        label = f"{'copy' if phase == 'copy' else 'verify'} {kind}"
        if self.kind == "rich":
            task = self.tasks.get(key)
            if task is None:
                task = self.tasks[key] = self.bars.add_task(label, total=total)
            self.bars.update(task, completed=done, total=total if total is not None else None)
        elif self.kind == "tqdm":
            from tqdm import tqdm

            bar = self.bars.get(key)
            if bar is None:
                bar = self.bars[key] = tqdm(total=total, desc=label, unit="rec", leave=True)
            if total is not None and bar.total != total:
                bar.total = total
            bar.update(done - bar.n)


class _Counter:
    """Per-kind done counter that reports to the progress sink every batch."""

    def __init__(self, sink: _Progress, kind: str, total: int | None, phase: str) -> None:
        self.sink, self.kind, self.total, self.phase = sink, kind, total, phase
        self.done = 0
        sink.update(kind, 0, total, phase)

    def add(self, n: int) -> None:
        self.done += n
        total = self.total if self.total is None or self.total >= self.done else None
        self.sink.update(self.kind, self.done, total, self.phase)


# -- reading a store, kind by kind ----------------------------------------------------------


async def _primitive(domain: Domain, call: Awaitable[T]) -> T:
    """Await a domain primitive with the same error wrapping as the public methods.

    Copying replays records at the primitive level (docs/backends.md), the one place in
    core outside the domains that does: the public methods would stamp new timestamps,
    re-embed messages and number agent versions afresh, and a copy must keep them as
    stored. Each such call is marked ``noqa: SLF001`` (our own documented SPI)."""
    try:
        return await call
    except AgentStorageError:
        raise
    except Exception as exc:
        raise domain.translate_error(exc) from exc


async def _pages(fetch: Callable[[int], Awaitable[Any]]) -> AsyncIterator[Sequence[Any]]:
    """Offset pages until one says it is the last."""
    page = 0
    while True:
        result = await fetch(page)
        if result.items:
            yield result.items
        if not result.has_more:
            return
        page += 1


async def _total(fetch: Callable[[], Awaitable[Any]]) -> int | None:
    try:
        return (await fetch()).total  # type: ignore[no-any-return]
    except AgentStorageError:
        return None


class _Reader:
    """Streams one store's records in batches, the same way for source and destination,
    and collects the resource ids they reference."""

    def __init__(self, storage: Storage, batch_size: int, domains: Sequence[str]) -> None:
        self.storage = storage
        self.batch = batch_size
        self.domains = domains
        self.resource_ids: set[str] = set()

    def _seen(self, resource_id: str | None) -> None:
        if resource_id is not None and "memory" in self.domains:
            self.resource_ids.add(resource_id)

    async def threads(self) -> AsyncIterator[list[Thread]]:
        query = evolve(self.storage.memory.threads().order_by("created_at", "asc"),
                       batch_size=self.batch)
        batch: list[Thread] = []
        async for thread in query:
            self._seen(thread.resource_id)
            batch.append(thread)
            if len(batch) >= self.batch:
                yield batch
                batch = []
        if batch:
            yield batch

    async def messages(self, thread_id: str) -> AsyncIterator[Sequence[Any]]:
        """The thread's messages in (created_at, save order), by keyset on created_at: each
        page starts at the previous page's last timestamp and skips the messages of that
        timestamp already read (ties are rare, so pages stay ~batch_size). Offsets would make
        every page re-read the thread up to its offset on backends that cannot seek."""
        memory = self.storage.memory
        start = None
        skip = 0  # messages at `start` already yielded
        while True:
            page = await memory.list_messages(thread_id, start=start, per_page=skip + self.batch,
                                              with_total=False)
            items = page.items[skip:]
            for m in items:
                self._seen(m.resource_id)
            if items:
                yield items
            if not page.has_more or not items:
                return
            start = items[-1].created_at
            skip = sum(1 for m in page.items if m.created_at == start)

    async def runs(self) -> AsyncIterator[Sequence[Any]]:
        wf = self.storage.workflows
        async for items in _pages(lambda p: wf.list_runs(page=p, per_page=self.batch)):
            for r in items:
                self._seen(r.resource_id)
            yield items

    async def scores(self) -> AsyncIterator[Sequence[Any]]:
        sc = self.storage.scores
        async for items in _pages(lambda p: sc.list_scores(page=p, per_page=self.batch)):
            for s in items:
                self._seen(s.resource_id)
            yield items

    async def traces(self) -> AsyncIterator[Sequence[Any]]:
        """Every span of every trace with a root span, one trace at a time (a trace with
        several roots is read once: at its first root)."""
        obs = self.storage.observability
        async for roots in _pages(lambda p: obs.list_traces(page=p, per_page=self.batch)):
            for root in roots:
                trace = await obs.get_trace(root.trace_id)
                if trace is None:
                    continue
                first = min((s for s in trace.spans if s.parent_span_id is None),
                            key=lambda s: (s.started_at, s.span_id), default=None)
                if first is None or first.span_id != root.span_id:
                    continue
                for s in trace.spans:
                    self._seen(s.resource_id)
                yield trace.spans

    async def resources(self) -> AsyncIterator[list[Resource]]:
        memory = self.storage.memory
        ids = sorted(self.resource_ids)
        for start in range(0, len(ids), self.batch):
            found = []
            for rid in ids[start:start + self.batch]:
                resource = await memory.get_resource(rid)
                if resource is not None:
                    found.append(resource)
            if found:
                yield found

    async def agents(self) -> AsyncIterator[Sequence[AgentConfig]]:
        ag = self.storage.agents
        async for items in _pages(lambda p: ag.list_agents(page=p, per_page=self.batch)):
            yield items


async def store_digests(
    storage: Storage, *, domains: Iterable[str] | None = None, batch_size: int = 500,
    progress: Any = None,
) -> dict[str, tuple[int, str]]:
    """Per kind: (record count, checksum) of a store, as :func:`copy_store` verifies them.
    Useful to compare two stores without copying."""
    chosen = _enabled(storage, storage, None if domains is None else _domains(domains))
    reader = _Reader(storage, _batch(batch_size), chosen)
    with _Progress(progress) as sink:
        digests = await _read_all(reader, sink, "verify")
    return {kind: (d.count, d.hexdigest) for kind, d in digests.items()}


async def _read_all(reader: _Reader, sink: _Progress, phase: str) -> dict[str, _Digest]:
    digests = {kind: _Digest() for domain, kind in KINDS if domain in reader.domains}
    storage = reader.storage
    if "memory" in reader.domains:
        threads = _Counter(sink, "threads", None, phase)
        messages = _Counter(sink, "messages", None, phase)
        async for batch in reader.threads():
            for thread in batch:
                digests["threads"].add(thread)
                async for items in reader.messages(thread.id):
                    for m in items:
                        digests["messages"].add(m)
                    messages.add(len(items))
            threads.add(len(batch))
    await _read_rest(reader, digests, sink, phase)
    if "memory" in reader.domains:
        counter = _Counter(sink, "resources", len(reader.resource_ids), phase)
        async for found in reader.resources():
            for r in found:
                digests["resources"].add(r)
            counter.add(len(found))
    if "agents" in reader.domains:
        counter = _Counter(sink, "agents", None, phase)
        versions = _Counter(sink, "agent_versions", None, phase)
        async for agents in reader.agents():
            for agent in agents:
                digests["agents"].add(agent)
                history = await storage.agents.list_agent_versions(agent.id)
                for v in history:
                    digests["agent_versions"].add(v, drop=_version_drop(v))
                versions.add(len(history))
            counter.add(len(agents))
    return digests


async def _read_rest(
    reader: _Reader, digests: dict[str, _Digest], sink: _Progress, phase: str
) -> None:
    """Workflow runs, scores and spans (read-only pass)."""
    for domain, kind, stream in (("workflows", "workflow_runs", reader.runs),
                                 ("scores", "scores", reader.scores),
                                 ("observability", "spans", reader.traces)):
        if domain not in reader.domains:
            continue
        counter = _Counter(sink, kind, None, phase)
        async for items in stream():
            for record in items:
                digests[kind].add(record)
            counter.add(len(items))


# -- copying --------------------------------------------------------------------------------


def _domains(domains: Iterable[str] | None) -> tuple[str, ...]:
    if domains is None:
        return tuple(DOMAIN_NAMES)
    if isinstance(domains, str):
        domains = [d.strip() for d in domains.split(",") if d.strip()]
    chosen = tuple(dict.fromkeys(domains))
    unknown = [d for d in chosen if d not in DOMAIN_NAMES]
    if unknown or not chosen:
        raise ValidationError(f"domains: {unknown or chosen} not in {list(DOMAIN_NAMES)}")
    return tuple(d for d in DOMAIN_NAMES if d in chosen)


def _enabled(src: Storage, dst: Storage, asked: tuple[str, ...] | None) -> tuple[str, ...]:
    """The domains to copy: those asked for (each must be enabled on both sides), else
    every domain enabled on both sides (a store may disable some: ``{"scores": False}``)."""
    both = tuple(d for d in DOMAIN_NAMES
                 if src.get_domain(d) is not None and dst.get_domain(d) is not None)
    if asked is None:
        return both
    missing = [d for d in asked if d not in both]
    if missing:
        raise DomainNotAvailableError(
            f"copy_store: domains {missing} are disabled in the source or the destination")
    return asked


def _batch(batch_size: Any) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValidationError(f"batch_size: expected an int >= 1, got {batch_size!r}")
    return batch_size


def _chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class _Copier:
    def __init__(self, src: Storage, dst: Storage, batch: int, domains: Sequence[str],
                 sink: _Progress) -> None:
        self.src, self.dst, self.batch, self.sink = src, dst, batch, sink
        self.reader = _Reader(src, batch, domains)
        self.domains = domains
        self.digests = {kind: _Digest() for domain, kind in KINDS if domain in domains}
        self.copied = dict.fromkeys(self.digests, 0)

    async def run(self) -> None:
        if "memory" in self.domains:
            await self.memory()
        if "workflows" in self.domains:
            await self.workflows()
        if "scores" in self.domains:
            await self.scores()
        if "observability" in self.domains:
            await self.spans()
        if "memory" in self.domains:
            await self.resources()
        if "agents" in self.domains:
            await self.agents()

    async def memory(self) -> None:
        src, dst = self.src.memory, self.dst.memory
        threads = _Counter(self.sink, "threads", await src.threads().count(), "copy")
        messages = _Counter(self.sink, "messages", (await src.stats()).message_count, "copy")
        await self.dst.ready()
        carry = await _carries_vectors(src, dst)
        # Chunks of about `batch` messages (or threads) go through the destination's bulk
        # hook: one transaction per chunk on SQL backends. Threads keep their own
        # updated_at (the hook writes messages without stamping the copy time).
        chunk: list[tuple[Thread, Sequence[Any]]] = []
        finished: list[Thread] = []  # threads whose every message is in `chunk`
        size = 0

        async def flush() -> None:
            nonlocal size
            if chunk:
                await _primitive(dst, dst._bulk_save_threads(chunk))  # noqa: SLF001
                if carry:
                    ids = [m.id for _, items in chunk for m in items]
                    rows = await _primitive(src, src._read_vectors(ids))  # noqa: SLF001
                    await _primitive(dst, dst._save_vectors(rows))  # noqa: SLF001
            for _, items in chunk:
                for m in items:
                    self.digests["messages"].add(m)
                self.copied["messages"] += len(items)
                messages.add(len(items))
            for thread in finished:
                self.digests["threads"].add(thread)
            self.copied["threads"] += len(finished)
            threads.add(len(finished))
            chunk.clear()
            finished.clear()
            size = 0

        async for batch in self.reader.threads():
            for thread in batch:
                queued = False
                async for items in self.reader.messages(thread.id):
                    chunk.append((thread, items))
                    queued, size = True, size + len(items)
                    if size >= self.batch:
                        await flush()
                if not queued:
                    chunk.append((thread, ()))
                finished.append(thread)
                if size >= self.batch or len(chunk) >= self.batch:
                    await flush()
        await flush()

    async def workflows(self) -> None:
        src, dst = self.src.workflows, self.dst.workflows
        counter = _Counter(self.sink, "workflow_runs",
                           await _total(lambda: src.list_runs(per_page=1)), "copy")
        await self.dst.ready()
        async for items in self.reader.runs():
            for run in items:
                # The primitive keeps the run's own timestamps and status (persist_snapshot
                # would stamp the copy time).
                await _primitive(dst, dst._persist(run))  # noqa: SLF001
                self.digests["workflow_runs"].add(run)
            self.copied["workflow_runs"] += len(items)
            counter.add(len(items))

    async def scores(self) -> None:
        src, dst = self.src.scores, self.dst.scores
        counter = _Counter(self.sink, "scores",
                           await _total(lambda: src.list_scores(per_page=1)), "copy")
        async for items in self.reader.scores():
            for score in items:
                await dst.save_score(score)
                self.digests["scores"].add(score)
            self.copied["scores"] += len(items)
            counter.add(len(items))

    async def spans(self) -> None:
        dst = self.dst.observability
        counter = _Counter(self.sink, "spans", None, "copy")
        async for spans in self.reader.traces():
            for chunk in _chunks(spans, self.batch):
                await dst.create_spans(chunk)
            for span in spans:
                self.digests["spans"].add(span)
            self.copied["spans"] += len(spans)
            counter.add(len(spans))

    async def resources(self) -> None:
        dst = self.dst.memory
        counter = _Counter(self.sink, "resources", len(self.reader.resource_ids), "copy")
        async for batch in self.reader.resources():
            for resource in batch:
                await dst.save_resource(resource)
                self.digests["resources"].add(resource)
            self.copied["resources"] += len(batch)
            counter.add(len(batch))

    async def agents(self) -> None:
        src = self.src.agents
        agents = _Counter(self.sink, "agents",
                          await _total(lambda: src.list_agents(per_page=1)), "copy")
        versions = _Counter(self.sink, "agent_versions", None, "copy")
        async for batch in self.reader.agents():
            for active in batch:
                history = await src.list_agent_versions(active.id)
                written = await self._agent(active, history)
                self.digests["agents"].add(active)
                for v in history:
                    self.digests["agent_versions"].add(v, drop=_version_drop(v))
                self.copied["agents"] += 1
                self.copied["agent_versions"] += written
                versions.add(len(history))
            agents.add(len(batch))

    async def _agent(self, active: AgentConfig, history: list[AgentVersion]) -> int:
        """Replay the version history on the destination; resume after a matching prefix.
        Returns the number of versions written."""
        dst = self.dst.agents
        await self.dst.ready()
        existing = await _primitive(dst, dst._list_versions(active.id))  # noqa: SLF001
        existing.sort(key=lambda v: v.version)
        keep = 0
        for have, want in zip(existing, history, strict=False):
            if _same_version(have, want):
                keep += 1
            else:
                break
        if keep < len(existing):
            # The destination's history diverges (not an earlier copy of this one): redo it.
            await dst.delete_agent(active.id)
            keep = 0
        written = 0
        for want in history[keep:]:
            config = want.config
            if want.version == 1:
                await _primitive(dst, dst._create_agent(config))  # noqa: SLF001
            else:
                fields = {name: getattr(config, name) for name in AGENT_UPDATABLE}
                await _primitive(dst, dst._update_agent(  # noqa: SLF001
                    active.id, fields, change_message=want.change_message, now=want.created_at))
            written += 1
        # The active version, with the source's last update/activation time.
        await _primitive(dst, dst._activate(active.id, active.version, now=active.updated_at))  # noqa: SLF001
        return written


async def _carries_vectors(src: Any, dst: Any) -> bool:
    """Whether message vectors are copied (without embedding): when both stores have an
    embedder of the same model and dimensions. A source without one has none to carry; a
    destination without one cannot store them (run ``embed_missing`` there later). Two
    different models raise EmbedderMismatchError before anything is written."""
    mine, theirs = src.vector_config(), dst.vector_config()
    if mine is None or theirs is None:
        return False
    if (mine.model, mine.dimensions) != (theirs.model, theirs.dimensions):
        raise EmbedderMismatchError(
            f"copy_store: the source's embedder is {mine.model!r} ({mine.dimensions} "
            f"dimensions) and the destination's {theirs.model!r} ({theirs.dimensions}): "
            "vectors of two models are never mixed (open both with the same embedder, or "
            "copy into a store without one and run embed_missing there)")
    await _primitive(src, src.vectors_ready(mine))
    await _primitive(dst, dst.vectors_ready(theirs))
    return True


def _same_version(a: AgentVersion, b: AgentVersion) -> bool:
    return _canonical(a, _version_drop(a)) == _canonical(b, _version_drop(b))


async def copy_store(
    src: Storage | str,
    dst: Storage | str,
    *,
    domains: Iterable[str] | str | None = None,
    batch_size: int = 500,
    progress: ProgressCallback | bool | str | None = None,
    verify: bool = True,
    allow_non_empty: bool = True,
) -> CopyReport:
    """Copy every record of ``src`` into ``dst`` and verify the result.

    ``src``/``dst``: Storage objects, or URLs (opened fresh and closed when done).
    ``domains``: names (or a comma-separated string) among memory, workflows, scores,
    observability, agents; default every domain enabled in both stores (asking for a
    domain one of them disables raises DomainNotAvailableError). ``batch_size``: records
    per read and write.
    ``progress``: a callback ``(kind, done, total, phase)``, or ``True``/``"rich"``/
    ``"tqdm"`` for a progress bar per kind (optional dependency). ``verify``: re-read the
    destination and compare counts and checksums; a difference raises
    :class:`CopyVerificationError`. Running it again after an interruption resumes: every
    write is an idempotent upsert. ``allow_non_empty=False`` refuses, before writing
    anything, a destination that already holds records of the chosen domains
    (:class:`~agent_storage.errors.ValidationError` naming them); the CLI's default.
    """
    asked = None if domains is None else _domains(domains)
    batch = _batch(batch_size)
    opened: list[Storage] = []
    try:
        source = _open(src, opened)
        target = _open(dst, opened)
        if source is target:
            raise ValidationError("copy_store: source and destination are the same store")
        chosen = _enabled(source, target, asked)
        if not allow_non_empty:
            await _refuse_non_empty(target, chosen)
        started = time.monotonic()
        with _Progress(progress) as sink:
            copier = _Copier(source, target, batch, chosen, sink)
            await copier.run()
            after: Mapping[str, _Digest] = {}
            if verify:
                after = await _read_all(_Reader(target, batch, chosen), sink, "verify")
        report = _report(copier, after, chosen, verify, time.monotonic() - started)
        if verify and not report.ok:
            bad = [f"{k.kind} (source {k.source_count}, destination {k.target_count}"
                   + (", same count, different content" if k.source_count == k.target_count
                      else "") + ")"
                   for k in report.kinds if not k.ok]
            raise CopyVerificationError(
                "copy verification failed: the destination differs from the source in "
                + "; ".join(bad) + ". Was the destination empty, and the source quiet? "
                "Running the copy again resumes and re-verifies.", report)
        return report
    finally:
        for storage in opened:
            await storage.close()


def _report(copier: _Copier, after: Mapping[str, _Digest], chosen: Sequence[str],
            verify: bool, seconds: float) -> CopyReport:
    kinds = []
    for domain, kind in KINDS:
        if domain not in chosen:
            continue
        mine, theirs = copier.digests[kind], after.get(kind)
        kinds.append(KindReport(
            domain=domain, kind=kind, copied=copier.copied[kind],
            source_count=mine.count, source_checksum=mine.hexdigest,
            target_count=None if theirs is None else theirs.count,
            target_checksum=None if theirs is None else theirs.hexdigest,
        ))
    return CopyReport(kinds=tuple(kinds), verified=verify, seconds=seconds)


async def _refuse_non_empty(target: Storage, domains: Sequence[str]) -> None:
    """Raise ValidationError if ``target`` holds a record of ``domains`` (one read each)."""
    reader = _Reader(target, 1, domains)
    streams = {"memory": reader.threads, "workflows": reader.runs, "scores": reader.scores,
               "observability": reader.traces, "agents": reader.agents}
    found = []
    for domain in domains:
        async for batch in streams[domain]():
            if batch:
                found.append(domain)
            break
    if found:
        raise ValidationError(
            f"the destination {target.url} already holds records ({', '.join(found)}); "
            "nothing was written. Copy into an empty store, or pass --into-non-empty "
            "(allow_non_empty=True) to resume an interrupted copy or merge into it")


def _open(target: Storage | str, opened: list[Storage]) -> Storage:
    if isinstance(target, Storage):
        return target
    if isinstance(target, str):
        from ._cache import open_store

        storage = open_store(target, fresh=True)
        opened.append(storage)
        return storage
    raise ValidationError(f"copy_store: expected a Storage or a URL, got {type(target).__name__}")

