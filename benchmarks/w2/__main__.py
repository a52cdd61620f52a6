"""W2 -- semantic recall: search_messages and recall against raw pgvector / raw numpy.

    python -m benchmarks.w2 --url "postgresql://postgres@/postgres?host=/tmp/pg" [--scale 1]
    python -m benchmarks.w2 --url sqlite:////tmp/w2/w2.db [--scale 1]

Data: 100,000 x scale messages, 384-dimension vectors, 100 resources, threads of 50
messages; each thread has a topic (a random unit centroid) and each message is its topic
plus noise, so a query has real neighbours. Text is ``m<i>`` and the store's embedder
looks the vector up (embedding time excluded). Queries: a perturbed vector of a message of
a random resource. Both sides run in this process on their own copy of the data; every
phase is cut into slices alternating raw, ours, ours, raw... (as W1). Reported: calls/s
each side and the ratio; recall@3 of our top-3 against exact top-3 (numpy over the
resource's vectors); the cost of storing vectors in save_messages (same batches with and
without an embedder, alternating).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

DIMS = 384
RESOURCES = 100
PER_THREAD = 50
#: The index both sides search with (pgvector's defaults, as agent-storage creates it).
HNSW = "USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"


class LookupEmbedder:
    """Text ``m<i>`` -> the dataset's vector i (embedding time excluded)."""

    model = "w2-lookup"
    dimensions = DIMS

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = vectors

    async def embed(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [self.vectors[int(t[1:])] for t in texts]


def dataset(n: int, seed: int = 2) -> tuple[np.ndarray, list[int]]:
    """Unit vectors (n x DIMS, float32) and each message's resource."""
    rng = np.random.default_rng(seed)
    threads = n // PER_THREAD
    centroids = rng.standard_normal((threads, DIMS)).astype(np.float32)
    vectors = np.repeat(centroids, PER_THREAD, axis=0)
    vectors += 0.8 * rng.standard_normal(vectors.shape).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    owners = [(i // PER_THREAD) % RESOURCES for i in range(n)]
    return vectors, owners


def queries(vectors: np.ndarray, owners: list[int], count: int, seed: int = 3
            ) -> list[tuple[int, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in rng.integers(0, len(vectors), count):
        q = vectors[i] + 0.3 * rng.standard_normal(DIMS).astype(np.float32)
        out.append((owners[int(i)], (q / np.linalg.norm(q)).astype(np.float32)))
    return out


def exact_top3(vectors: np.ndarray, owners: list[int], qs: list[tuple[int, np.ndarray]]
               ) -> list[set[int]]:
    by_owner: dict[int, np.ndarray] = {}
    owners_arr = np.asarray(owners)
    truth = []
    for r, q in qs:
        idx = by_owner.get(r)
        if idx is None:
            idx = by_owner[r] = np.nonzero(owners_arr == r)[0]
        scores = vectors[idx].astype(np.float64) @ q.astype(np.float64)
        truth.append({int(idx[j]) for j in np.argsort(-scores)[:3]})
    return truth


async def load_ours(store: Any, n: int, *, embed: bool = True, batch: int = 1000) -> None:
    """Threads first, then save_messages of ``batch`` messages (several threads) a call."""
    from agent_storage import Message, Thread

    for t in range(n // PER_THREAD):
        await store.memory.save_thread(Thread(id=f"t{t}", resource_id=f"r{t % RESOURCES}"))
    for start in range(0, n, batch):
        await store.memory.save_messages([
            Message(id=f"x{i}", thread_id=f"t{i // PER_THREAD}", role="user", content=f"m{i}")
            for i in range(start, min(n, start + batch))])


async def alternate(raw: Any, ours: Any, items: list[Any], slices: int
                    ) -> tuple[float, float, float, float]:
    """Run raw(item)/ours(item) over ``items`` in alternating slices; wall seconds and
    this process's CPU seconds per side (raw, ours, raw CPU, ours CPU)."""
    spent = {"raw": 0.0, "ours": 0.0}
    cpu = {"raw": 0.0, "ours": 0.0}
    size = max(1, len(items) // slices)
    chunks = [items[i:i + size] for i in range(0, len(items), size)]
    for n, chunk in enumerate(chunks):
        order = ("raw", "ours") if n % 2 == 0 else ("ours", "raw")
        for side in order:
            fn = raw if side == "raw" else ours
            start, start_cpu = time.perf_counter(), time.process_time()
            for item in chunk:
                await fn(item)
            spent[side] += time.perf_counter() - start
            cpu[side] += time.process_time() - start_cpu
    return spent["raw"], spent["ours"], cpu["raw"], cpu["ours"]


async def repeated(raw: Any, ours: Any, items: list[Any], slices: int, repeat: int,
                   got: tuple[list[Any], list[Any]]) -> dict[str, Any]:
    """:func:`alternate` ``repeat`` times (the hits of the first run are kept in ``got``
    for recall@3); the medians of the rates, of the ratio and of CPU us/call."""
    runs = []
    for _ in range(repeat):
        raw_s, ours_s, raw_cpu, ours_cpu = await alternate(raw, ours, items, slices)
        for g in got:
            del g[len(items):]  # the hits of the first run
        runs.append({"raw_calls_per_s": len(items) / raw_s,
                     "ours_calls_per_s": len(items) / ours_s, "ratio": raw_s / ours_s,
                     "raw_cpu_us": raw_cpu / len(items) * 1e6,
                     "ours_cpu_us": ours_cpu / len(items) * 1e6,
                     "load_average": os.getloadavg()[0]})
    out: dict[str, Any] = {k: statistics.median(run[k] for run in runs) for k in runs[0]}
    out["runs"] = runs
    return out


async def run_pg(url: str, n: int, vectors: np.ndarray, owners: list[int],
                 qs: list[tuple[int, np.ndarray]], slices: int, repeat: int,
                 index_after: bool = False) -> dict[str, Any]:
    import asyncpg
    from agent_storage import open_store

    schema = f"w2_{os.getpid()}"
    store = open_store(url, fresh=True, schema=schema, embedder=LookupEmbedder(vectors))
    await store.init()
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    await conn.execute("SET maintenance_work_mem = '512MB'")  # HNSW builds in memory
    hnsw = HNSW
    if index_after:  # a backfill: load without the index, then build it (docs/recall.md)
        ours_index = await conn.fetchrow(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 "
            "AND indexdef LIKE '%USING hnsw%'", schema)
        await conn.execute(f'DROP INDEX "{schema}"."{ours_index[0]}"')
    t0 = time.perf_counter()
    await load_ours(store, n)
    load_ours_s = time.perf_counter() - t0
    if index_after:
        t0 = time.perf_counter()
        await conn.execute(ours_index[1])
        load_ours_s += time.perf_counter() - t0
    raw_t = f'"{schema}".raw_vectors'
    await conn.execute(f"CREATE TABLE {raw_t} (id bigint PRIMARY KEY, resource_id text NOT "
                       f"NULL, embedding vector({DIMS}) NOT NULL)")
    if not index_after:
        await conn.execute(f"CREATE INDEX ON {raw_t} {hnsw}")
    await conn.execute(f"CREATE INDEX ON {raw_t} (resource_id)")
    t0 = time.perf_counter()
    rows = [(i, f"r{owners[i]}", "[" + ",".join(map(repr, map(float, v))) + "]")
            for i, v in enumerate(vectors)]
    for i in range(0, n, 1000):
        await conn.executemany(f"INSERT INTO {raw_t} VALUES ($1, $2, $3::text::vector)",  # noqa: S608
                               rows[i:i + 1000])
    if index_after:
        await conn.execute(f"CREATE INDEX ON {raw_t} {hnsw}")
    load_raw_s = time.perf_counter() - t0
    await conn.execute("SET hnsw.iterative_scan = relaxed_order")
    await conn.execute("SET hnsw.ef_search = 100")
    raw_sql = (f"SELECT id, 1 - (embedding <=> $1::text::vector) FROM {raw_t} "  # noqa: S608
               "WHERE resource_id = $2 ORDER BY embedding <=> $1::text::vector LIMIT 3")
    stmt = await conn.prepare(raw_sql)
    got_raw: list[set[int]] = []
    got_ours: list[set[int]] = []

    def text(q: np.ndarray) -> str:
        return "[" + ",".join(map(repr, map(float, q))) + "]"

    async def raw(item: tuple[int, tuple[int, np.ndarray]]) -> None:
        _, (r, q) = item
        got_raw.append({int(x[0]) for x in await stmt.fetch(text(q), f"r{r}")})

    async def ours(item: tuple[int, tuple[int, np.ndarray]]) -> None:
        _, (r, q) = item
        hits = await store.memory.search_messages(q.tolist(), resource_id=f"r{r}", top_k=3)
        got_ours.append({int(h.message.id[1:]) for h in hits})

    items = list(enumerate(qs))
    await ours(items[0])  # warm both (prepared statements)
    await raw(items[0])
    got_raw.clear()
    got_ours.clear()
    search = await repeated(raw, ours, items, slices, repeat, (got_raw, got_ours))
    truth = exact_top3(vectors, owners, qs)
    recall_ours = _recall(got_ours, _reorder(items, slices, truth, "ours"))
    recall_raw = _recall(got_raw, _reorder(items, slices, truth, "raw"))

    async def recall_call(item: tuple[int, tuple[int, np.ndarray]]) -> None:
        _, (r, q) = item
        await store.memory.recall(f"t{r}", q.tolist(), last=10, top_k=3, message_range=2)

    start = time.perf_counter()
    for item in items[: len(items) // 2]:
        await recall_call(item)
    recall_s = time.perf_counter() - start
    save = await save_cost(url, vectors, dict(schema=f"{schema}_s"))
    await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}_s" CASCADE')
    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}_s0" CASCADE')
    await conn.close()
    await store.close()
    return _report("pg", n, len(items), search, recall_ours, recall_raw,
                   recall_s, len(items) // 2, load_ours_s, load_raw_s, save)


async def run_sqlite(path: str, n: int, vectors: np.ndarray, owners: list[int],
                     qs: list[tuple[int, np.ndarray]], slices: int, repeat: int
                     ) -> dict[str, Any]:
    import sqlite3

    from agent_storage import open_store

    url = f"sqlite:///{path}"
    store = open_store(url, fresh=True, table_prefix="w2", embedder=LookupEmbedder(vectors))
    await store.init()
    t0 = time.perf_counter()
    await load_ours(store, n)
    load_ours_s = time.perf_counter() - t0
    raw_db = sqlite3.connect(path + ".raw")
    raw_db.execute("CREATE TABLE v (id INTEGER PRIMARY KEY, resource_id TEXT, embedding BLOB)")
    raw_db.execute("CREATE INDEX v_res ON v (resource_id)")
    t0 = time.perf_counter()
    raw_db.executemany("INSERT INTO v VALUES (?, ?, ?)",
                       [(i, f"r{owners[i]}", vectors[i].astype("<f4").tobytes())
                        for i in range(n)])
    raw_db.commit()
    load_raw_s = time.perf_counter() - t0
    got_raw: list[set[int]] = []
    got_ours: list[set[int]] = []

    async def raw(item: tuple[int, tuple[int, np.ndarray]]) -> None:
        _, (r, q) = item
        rows = raw_db.execute("SELECT id, embedding FROM v WHERE resource_id = ?",
                              (f"r{r}",)).fetchall()
        matrix = np.frombuffer(b"".join(x[1] for x in rows), dtype="<f4").reshape(-1, DIMS)
        scores = matrix @ q
        got_raw.append({int(rows[j][0]) for j in np.argsort(-scores)[:3]})

    async def ours(item: tuple[int, tuple[int, np.ndarray]]) -> None:
        _, (r, q) = item
        hits = await store.memory.search_messages(q.tolist(), resource_id=f"r{r}", top_k=3)
        got_ours.append({int(h.message.id[1:]) for h in hits})

    items = list(enumerate(qs))
    await ours(items[0])  # warm both
    await raw(items[0])
    got_raw.clear()
    got_ours.clear()
    search = await repeated(raw, ours, items, slices, repeat, (got_raw, got_ours))
    truth = exact_top3(vectors, owners, qs)
    recall_ours = _recall(got_ours, _reorder(items, slices, truth, "ours"))
    recall_raw = _recall(got_raw, _reorder(items, slices, truth, "raw"))
    start = time.perf_counter()
    for _, (r, q) in items[: len(items) // 2]:
        await store.memory.recall(f"t{r}", q.tolist(), last=10, top_k=3, message_range=2)
    recall_s = time.perf_counter() - start
    await store.close()
    raw_db.close()
    save = await save_cost(f"sqlite:///{path}.save", vectors, {})
    return _report("sqlite", n, len(items), search, recall_ours, recall_raw,
                   recall_s, len(items) // 2, load_ours_s, load_raw_s, save)


async def save_cost(url: str, vectors: np.ndarray, options: dict[str, Any],
                    batches: int = 200) -> dict[str, float]:
    """us per save_messages call (one thread, 10 messages) with and without an embedder,
    alternating slices on two fresh stores."""
    from agent_storage import Message, Thread, open_store

    with_v = open_store(url, fresh=True, embedder=LookupEmbedder(vectors), **options)
    plain_opts = dict(options)
    if "schema" in plain_opts:
        plain_opts["schema"] = plain_opts["schema"] + "0"
    else:
        plain_opts["table_prefix"] = "plain"
    plain = open_store(url, fresh=True, **plain_opts)
    for store in (with_v, plain):
        await store.init()
        await store.memory.save_thread(Thread(id="s", resource_id="r"))
    counter = {"with": 0, "plain": 0}

    def batch(side: str) -> list[Any]:
        base = counter[side] * 10
        counter[side] += 1
        return [Message(id=f"{side}{base + k}", thread_id="s", role="user",
                        content=f"m{(base + k) % len(vectors)}") for k in range(10)]

    async def w(_: int) -> None:
        await with_v.memory.save_messages(batch("with"))

    async def p(_: int) -> None:
        await plain.memory.save_messages(batch("plain"))

    plain_s, with_s, _, _ = await alternate(p, w, list(range(batches)), 20)
    await with_v.close()
    await plain.close()
    return {"plain_us": plain_s / batches * 1e6, "with_vectors_us": with_s / batches * 1e6}


def _reorder(items: list[Any], slices: int, truth: list[set[int]], side: str) -> list[set[int]]:
    """Ground truth in the order a side ran its items (slices alternate)."""
    return [truth[i] for i, _ in items]


def _recall(got: list[set[int]], truth: list[set[int]]) -> float:
    return sum(len(g & t) for g, t in zip(got, truth, strict=True)) / (3 * len(truth))


def _report(backend: str, n: int, calls: int, search: dict[str, Any], recall_ours: float,
            recall_raw: float, recall_s: float, recall_calls: int, load_ours_s: float,
            load_raw_s: float, save: dict[str, float]) -> dict[str, Any]:
    return {
        "backend": backend, "messages": n, "dimensions": DIMS, "resources": RESOURCES,
        "search_calls": calls, **search,
        "recall_at_3_ours": recall_ours, "recall_at_3_raw": recall_raw,
        "recall_calls_per_s": recall_calls / recall_s,
        "load_ours_s": load_ours_s, "load_raw_s": load_raw_s, **save,
        "load_average_end": os.getloadavg()[0],
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    n = int(100_000 * args.scale) // PER_THREAD * PER_THREAD
    vectors, owners = dataset(n)
    qs = queries(vectors, owners, args.queries)
    random.seed(1)
    if args.url.startswith("sqlite"):
        directory = tempfile.mkdtemp(prefix="w2_")
        return await run_sqlite(os.path.join(directory, "w2.db"), n, vectors, owners, qs,
                                args.slices, args.repeat)
    return await run_pg(args.url, n, vectors, owners, qs, args.slices, args.repeat,
                        args.index_after_load)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.w2")
    parser.add_argument("--url", required=True)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--slices", type=int, default=20)
    parser.add_argument("--index-after-load", action="store_true",
                        help="PostgreSQL: load both sides without the HNSW index, then "
                             "build it (a backfill); load times include the build")
    parser.add_argument("--repeat", type=int, default=3,
                        help="search phases (alternating slices each); medians reported")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    report = asyncio.run(main_async(args))
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
