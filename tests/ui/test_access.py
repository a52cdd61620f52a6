"""Who may read: the token off the loopback, the Host check on it, read-only routes."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from .conftest import Server, Tab, start_server, stop_server


@pytest.fixture(scope="module")
def open_server(store_url: str) -> Iterator[Server]:
    """The viewer bound to every address (0.0.0.0): it must print and require a token."""
    started = start_server(store_url, "--host", "0.0.0.0")
    yield started
    stop_server(started)


def _request(server: Server, path: str, method: str = "GET",
             headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    port = urlsplit(server.base).port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, headers=headers or {})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def test_token_required_off_the_loopback(open_server: Server, tab: Tab) -> None:
    token = urlsplit(open_server.base).query.removeprefix("token=")
    assert len(token) >= 24
    port = urlsplit(open_server.base).port
    base = f"http://127.0.0.1:{port}"
    tab.visit(f"{base}/threads", status=401)
    tab.visit(f"{base}/threads?token=wrong{token}", status=401)
    tab.visit(f"{base}/static/ui.css", status=401)
    tab.visit(f"{base}/threads?token={token}")
    assert "Weather in Paris" in tab.page.inner_text("main")
    # the token is now an HttpOnly cookie: links need not carry it
    tab.page.click("nav >> text=Traces")
    tab.page.wait_for_load_state("load")
    assert tab.page.url.endswith("/traces")
    assert "agent.run" in tab.page.inner_text("main")
    assert tab.page.evaluate("document.cookie") == ""  # not readable by scripts
    assert _request(open_server, "/status").status == 401
    assert _request(open_server, "/status",
                    headers={"Authorization": f"Bearer {token}"}).status == 200
    tab.errors.clear()  # the 401 pages above are logged by Chromium as failed loads


def test_loopback_binding_answers_only_loopback_host_names(server: Server) -> None:
    assert "token" not in server.base
    assert _request(server, "/threads").status == 200
    assert _request(server, "/threads", headers={"Host": "localhost"}).status == 200
    rebinding = _request(server, "/threads", headers={"Host": "attacker.example:8765"})
    assert rebinding.status == 421


def test_read_only_and_locked_down(server: Server) -> None:
    response = _request(server, "/threads")
    csp = response.getheader("content-security-policy") or ""
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.getheader("x-frame-options") == "DENY"
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert _request(server, "/threads", method=method).status == 405, method


@pytest.mark.parametrize(("path", "status"), [
    ("/thread?id=no-such-thread", 404),
    ("/thread", 400),
    ("/threads?after=no-such-thread", 404),
    ("/threads?order=id;drop", 400),
    ("/traces?start=yesterday", 400),
    ("/trace?id=no-such-trace", 404),
    ("/run?id=no-such-run", 404),
    ("/agent?id=no-such-agent", 404),
    ("/runs?page=-1", 400),
])
def test_bad_or_unknown_input_is_an_error_page(server: Server, path: str, status: int) -> None:
    assert _request(server, path).status == status
