"""OpenAIEmbedder against a real HTTP server speaking the OpenAI embeddings endpoint (a
small stdlib server in this process, on a free local port): what the ``openai`` client
sends, the order of the vectors it returns, and a store that recalls through it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from agent_storage import Message, Thread, open_store
from agent_storage.embedders import DeterministicTestEmbedder

pytest.importorskip("openai")  # the vectors env installs it (core[openai-agents])
pytestmark = pytest.mark.asyncio(loop_scope="function")

WORDS = DeterministicTestEmbedder(8)  # the server's "model": hashed words, 8 dimensions


class _Embeddings(BaseHTTPRequestHandler):
    """POST /v1/embeddings: vectors of the inputs, listed in reverse order with their
    ``index`` (a client must sort by index), usage counted in words."""

    requests: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append({"path": self.path, "auth": self.headers.get("Authorization"),
                              **body})
        size = int(body.get("dimensions") or WORDS.dimensions)
        data = [{"object": "embedding", "index": i,
                 "embedding": (WORDS.vector(text) + [0.0] * size)[:size]}
                for i, text in enumerate(body["input"])]
        words = sum(len(t.split()) for t in body["input"])
        payload = json.dumps({"object": "list", "model": body["model"], "data": data[::-1],
                              "usage": {"prompt_tokens": words, "total_tokens": words}})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload.encode())

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    _Embeddings.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Embeddings)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


async def test_vectors_in_input_order_and_what_is_sent(endpoint: str) -> None:
    from agent_storage.embedders.openai import OpenAIEmbedder

    shortened = OpenAIEmbedder("text-embedding-3-small", dimensions=8, base_url=endpoint,
                               api_key="sk-test")
    assert (shortened.model, shortened.dimensions) == ("text-embedding-3-small", 8)
    texts = ["red apples", "blue whales sing", "the train"]
    assert await shortened.embed(texts) == [WORDS.vector(t) for t in texts]
    sent = _Embeddings.requests[-1]
    assert sent["path"] == "/v1/embeddings" and sent["auth"] == "Bearer sk-test"
    assert sent["model"] == "text-embedding-3-small" and sent["input"] == texts
    assert sent["dimensions"] == 8  # text-embedding-3 models take a shorter size
    other = OpenAIEmbedder("local-model", dimensions=8, base_url=endpoint, api_key="k")
    await other.embed(["x"])
    assert "dimensions" not in _Embeddings.requests[-1]  # other models: sent as they are
    with pytest.raises(ValueError, match="dimensions"):
        OpenAIEmbedder("local-model", base_url=endpoint, api_key="k")


async def test_a_store_recalls_through_the_endpoint(endpoint: str) -> None:
    from agent_storage.embedders.openai import OpenAIEmbedder

    embedder = OpenAIEmbedder("local-model", dimensions=8, base_url=endpoint, api_key="k")
    async with open_store("memory://", embedder=embedder) as store:
        await store.memory.save_thread(Thread(id="t", resource_id="u"))
        await store.memory.save_messages([
            Message(id=f"m{i}", thread_id="t", role="user", content=text)
            for i, text in enumerate(["My name is Ada", "garden roses", "train at nine"])])
        hits = await store.memory.search_messages("name Ada", resource_id="u", top_k=1)
    assert [h.message.id for h in hits] == ["m0"]
    # one request for the three messages (one embed call per save), one for the query
    assert [r["input"] for r in _Embeddings.requests] == [
        ["My name is Ada", "garden roses", "train at nine"], ["name Ada"]]
