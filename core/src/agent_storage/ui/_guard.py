"""Who may read: a loopback-only Host check, or a token on every request; security headers.

Bound to a loopback address the viewer answers only requests whose Host header names
the loopback (so a web page elsewhere cannot reach it by DNS rebinding). Bound to any
other address it answers only requests that carry the token printed at start: as
``?token=`` (which also sets an HttpOnly cookie, so links need not carry it), as that
cookie, or as ``Authorization: Bearer``. Every response forbids inline scripts (CSP),
framing, sniffing and referrers, and is not cached.
"""

from __future__ import annotations

import hmac
import ipaddress

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["COOKIE", "Guard", "is_loopback"]

COOKIE = "agent_storage_ui_token"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def is_loopback(host: str) -> bool:
    """True for localhost and any loopback address (127.0.0.0/8, ::1)."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _host_name(header: str) -> str:
    if header.startswith("["):
        return header[1:].partition("]")[0].lower()
    return header.rpartition(":")[0].lower() if header.count(":") == 1 else header.lower()


class Guard:
    """ASGI middleware: refuse what may not read, add the security headers to the rest."""

    def __init__(self, app: ASGIApp, *, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refusal, from_query = self._check(request)
        if refusal is not None:
            await refusal(scope, receive, self._with_headers(send, False))
            return
        await self.app(scope, receive, self._with_headers(send, from_query))

    def _check(self, request: Request) -> tuple[PlainTextResponse | None, bool]:
        if self.token is None:
            host = _host_name(request.headers.get("host", ""))
            if host not in LOOPBACK_NAMES and not is_loopback(host):
                return PlainTextResponse("this viewer answers only on the loopback address",
                                         status_code=421), False
            return None, False
        from_query = request.query_params.get("token")
        auth = request.headers.get("authorization", "")
        bearer = auth[7:] if auth.lower().startswith("bearer ") else None
        for given in (from_query, request.cookies.get(COOKIE), bearer):
            if given and hmac.compare_digest(given.encode(), self.token.encode()):
                return None, given == from_query
        return PlainTextResponse(
            "a token is required: open the address printed by `agent-storage ui`",
            status_code=401, headers={"www-authenticate": "Bearer"}), False

    def _with_headers(self, send: Send, set_cookie: bool) -> Send:
        token = self.token

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers[name] = value
                if set_cookie and token is not None:
                    # token_urlsafe's alphabet needs no cookie quoting
                    headers.append("set-cookie",
                                   f"{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/")
            await send(message)

        return wrapped
