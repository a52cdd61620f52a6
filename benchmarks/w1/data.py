"""Deterministic W1 dataset ("agent chat memory"), generated exactly as W1.md specifies.

Run `python -m benchmarks.w1.data [--scale N]` to print the sha256 of the canonical file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

SEED = 0x5EED0001
BASE_MS = 1735689600000  # 2025-01-01T00:00:00.000Z
THREADS_PER_USER = 4
MESSAGES_PER_THREAD = 100
BATCH_SIZE = 20
TEXT_MIN_LEN = 250
EXPECTED_SHA256 = "283fefbde61799eefe1885853772ddd42265166f3c7a242dab1466da9523e55f"

VOCAB = (
    "agent memory thread message user assistant tool call result context window token model prompt"
    " reply store query index vector recall summary plan step state cache latency schema table row"
    " json postgres search"
).split()
assert len(VOCAB) == 32

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso(ms: int) -> str:
    """UTC `YYYY-MM-DDTHH:MM:SS.mmmZ`."""
    return to_datetime(ms).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def to_datetime(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


@dataclass(frozen=True, slots=True)
class W1Thread:
    id: str
    resource_id: str
    title: str
    n: int
    created_ms: int

    @property
    def created_at(self) -> datetime:
        return to_datetime(self.created_ms)


@dataclass(frozen=True, slots=True)
class W1Message:
    id: str
    thread_id: str
    resource_id: str
    role: str
    text: str
    created_ms: int

    @property
    def created_at(self) -> datetime:
        return to_datetime(self.created_ms)

    @property
    def content(self) -> dict[str, Any]:
        return {"format": 2, "parts": [{"type": "text", "text": self.text}]}


@dataclass(frozen=True, slots=True)
class W1Data:
    scale: float
    users: list[str]
    threads: list[W1Thread]
    messages: list[W1Message]
    batches: list[tuple[int, int]]  # (start index into messages, count)
    context_picks: list[str]
    # per message id: (thread index, k) -- lets the phases compute expected windows in O(1)
    position: dict[str, tuple[int, int]]

    def expected_window(self, mid: str, before: int = 2, after: int = 2) -> list[str]:
        j, k = self.position[mid]
        lo, hi = max(0, k - before), min(MESSAGES_PER_THREAD - 1, k + after)
        return [message_id(j, i) for i in range(lo, hi + 1)]

    def expected_last(self, j: int, n: int = 20) -> list[str]:
        return [message_id(j, k) for k in range(MESSAGES_PER_THREAD - n, MESSAGES_PER_THREAD)]


def message_id(j: int, k: int) -> str:
    return f"msg-{j:03d}-{k:03d}"


def thread_count(scale: float) -> int:
    """200 threads per unit of scale, always a whole number of users (fractions: smoke tests)."""
    users = max(1, round(50 * scale))
    return users * THREADS_PER_USER


def generate(scale: float = 1) -> W1Data:
    n_threads = thread_count(scale)
    n_users = n_threads // THREADS_PER_USER
    n_picks = max(1, round(200 * scale))
    x = SEED
    vocab = VOCAB

    threads = [
        W1Thread(f"thread-{j}", f"user-{j // 4}", f"Thread {j}", j, BASE_MS + j * 1000)
        for j in range(n_threads)
    ]
    messages: list[W1Message] = []
    position: dict[str, tuple[int, int]] = {}
    for j in range(n_threads):
        tid, rid = f"thread-{j}", f"user-{j // 4}"
        for k in range(MESSAGES_PER_THREAD):
            words: list[str] = []
            length = -1  # len(" ".join(words)) tracked incrementally
            while length < TEXT_MIN_LEN:
                # xorshift32, inlined: this loop runs ~40 times per message
                x ^= (x << 13) & 0xFFFFFFFF
                x ^= x >> 17
                x ^= (x << 5) & 0xFFFFFFFF
                w = vocab[x % 32]
                words.append(w)
                length += len(w) + 1
            mid = message_id(j, k)
            role = "user" if k % 2 == 0 else "assistant"
            created = BASE_MS + 3_600_000 + k * 60_000 + j * 100
            messages.append(W1Message(mid, tid, rid, role, " ".join(words), created))
            position[mid] = (j, k)

    picks: list[str] = []
    total = len(messages)
    for _ in range(n_picks):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        picks.append(messages[x % total].id)

    batches = [
        (j * MESSAGES_PER_THREAD + BATCH_SIZE * b, BATCH_SIZE)
        for b in range(MESSAGES_PER_THREAD // BATCH_SIZE)
        for j in range(n_threads)
    ]
    users = [f"user-{i}" for i in range(n_users)]
    return W1Data(scale, sorted(users), threads, messages, batches, picks, position)


def canonical_json(data: W1Data) -> str:
    doc = {
        "threads": [
            {
                "id": t.id,
                "resourceId": t.resource_id,
                "title": t.title,
                "metadata": {"n": t.n},
                "createdAt": iso(t.created_ms),
            }
            for t in data.threads
        ],
        "messages": [
            {
                "id": m.id,
                "threadId": m.thread_id,
                "resourceId": m.resource_id,
                "role": m.role,
                "createdAt": iso(m.created_ms),
                "content": m.content,
            }
            for m in data.messages
        ],
        "batches": [list(b) for b in data.batches],
        "contextPicks": data.context_picks,
    }
    return json.dumps(doc, separators=(",", ":"), sort_keys=True)


def sha256(data: W1Data) -> str:
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()


def check(data: W1Data) -> None:
    """Assert the published sha256 (only defined at scale 1)."""
    if data.scale == 1:
        got = sha256(data)
        if got != EXPECTED_SHA256:
            raise AssertionError(f"W1 dataset sha256 mismatch: {got} != {EXPECTED_SHA256}")


def main() -> None:
    ap = argparse.ArgumentParser(description="Generate the W1 dataset and print its sha256")
    ap.add_argument("--scale", type=float, default=1)
    ap.add_argument("--out", help="write the canonical JSON here")
    args = ap.parse_args()
    data = generate(args.scale)
    text = canonical_json(data)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    digest = hashlib.sha256(text.encode()).hexdigest()
    ok = "" if args.scale != 1 else (" OK" if digest == EXPECTED_SHA256 else " MISMATCH")
    print(f"{len(data.messages)} messages, sha256 {digest}{ok}")


if __name__ == "__main__":
    main()
