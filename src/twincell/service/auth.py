"""Who may call the service: bearer token, Host allow-list, same-origin posts, body size and body-read time.

The token comes from the ``TWINCELL_API_TOKEN`` environment variable or from a file. :class:`RequestGuard`
answers every refused request itself, as JSON and before any body is read, so no work is done for it:

* 400 when the ``Host`` header is not an allowed host name (DNS rebinding: a page on ``evil.example``
  whose name resolves to 127.0.0.1 sends ``Host: evil.example``);
* 403 for a cross-origin ``POST`` when no token is set (``Origin`` not the requested host, or
  ``Sec-Fetch-Site`` other than ``same-origin`` / ``none``): any web page could otherwise make the
  visitor's browser run rankings on a loopback service;
* 401 for a ``/v1`` request without ``Authorization: Bearer <token>`` when a token is set (the scheme
  name is case-insensitive, the token is compared in constant time);
* 413 when ``Content-Length`` exceeds the body limit (or, for a chunked body, as soon as the bytes
  received do); 408 when the body does not arrive within the body timeout (a slow client cannot hold
  a connection open indefinitely). These two are raised inside the app, so FastAPI answers them as JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twincell.errors import TwinCellError

TOKEN_ENV = "TWINCELL_API_TOKEN"
PROTECTED_PREFIX = "/v1/"
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SAME_SITE_FETCH = frozenset({b"same-origin", b"none"})


def resolve_token(token_file: str | os.PathLike | None = None) -> str | None:
    """The API token: the first line of ``token_file`` if given, else ``$TWINCELL_API_TOKEN``, else None (both
    stripped of surrounding whitespace, as request headers are).

    Raises
    ------
    TwinCellError
        The token file is missing, unreadable or empty.
    """
    if token_file is None:
        return (os.environ.get(TOKEN_ENV) or "").strip() or None
    file = Path(token_file)
    try:
        lines = file.read_text().splitlines()
    except OSError as exc:
        raise TwinCellError(f"cannot read the token file {file}: {exc.strerror}",
                            "give a readable file whose first line is the token") from exc
    token = lines[0].strip() if lines else ""
    if not token:
        raise TwinCellError(f"the token file {file} is empty", "write the token on its first line")
    return token


def allowed_host_names(bound_host: str | None = None, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The default ``Host`` allow-list: the loopback names, the bound address (unless a wildcard) and ``extra``.

    ``"*"`` in ``extra`` allows any host (only behind a proxy that checks ``Host`` itself).
    """
    names = [*LOOPBACK_HOSTS, *extra]
    if bound_host and bound_host not in ("0.0.0.0", "::", ""):
        names.append(bound_host)
    return tuple(dict.fromkeys(n.strip().lower().strip("[]") for n in names))


def host_name(authority: str) -> str:
    """The lower-case host name of a ``Host`` header or URL authority, without port or IPv6 brackets."""
    authority = authority.strip().lower()
    if authority.startswith("["):
        return authority[1:authority.find("]")] if "]" in authority else authority[1:]
    return authority.rsplit(":", 1)[0] if authority.count(":") == 1 else authority


def json_response(status: int, detail: str, headers: Iterable[tuple[bytes, bytes]] = ()) -> list[Message]:
    """The two ASGI messages of a ``{"detail": ...}`` JSON answer."""
    body = json.dumps({"detail": detail}).encode()
    return [{"type": "http.response.start", "status": status,
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                         *headers]},
            {"type": "http.response.body", "body": body}]


class RequestGuard:
    """ASGI middleware applying the checks of this module to every HTTP request (see the module docstring).

    Parameters
    ----------
    app
        The wrapped application.
    token
        Bearer token required on ``/v1/`` requests; None = no token (cross-origin posts are then refused).
    allowed_hosts
        Host names accepted in the ``Host`` header (lower case, no port); ``"*"`` accepts any.
    max_body_bytes
        Largest ``Content-Length`` accepted (bytes).
    body_timeout_s
        Seconds allowed between two body chunks of a request.
    """

    def __init__(self, app: ASGIApp, *, token: str | None, allowed_hosts: Iterable[str], max_body_bytes: int,
                 body_timeout_s: float) -> None:
        self.app = app
        self._token = None if token is None else token.encode()
        self._hosts = frozenset(h.lower() for h in allowed_hosts)
        self._max_body = max_body_bytes
        self._body_timeout = body_timeout_s

    def refusal(self, scope: Scope) -> list[Message] | None:
        """The answer to a request refused before its body is read, or None when it may proceed."""
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1")
        if "*" not in self._hosts and host_name(host) not in self._hosts:
            return json_response(400, f"host {host!r} is not served here; allowed: {sorted(self._hosts)} "
                                      "(twincell serve --allow-host NAME)")
        if self._token is None and scope["method"] not in SAFE_METHODS:
            site = headers.get(b"sec-fetch-site")
            origin = headers.get(b"origin")
            if (site is not None and site.lower() not in SAME_SITE_FETCH) or (
                    origin is not None and urlsplit(origin.decode("latin-1")).netloc.lower() != host.lower()):
                return json_response(403, "cross-origin requests are refused when the service has no token "
                                          "(set $TWINCELL_API_TOKEN to serve non-browser clients elsewhere, "
                                          "which send the token)")
        if self._token is not None and scope["path"].startswith(PROTECTED_PREFIX):
            scheme, _, given = headers.get(b"authorization", b"").strip().partition(b" ")
            if not (scheme.lower() == b"bearer" and secrets.compare_digest(given.strip(), self._token)):
                return json_response(401, "missing or wrong bearer token: send 'Authorization: Bearer <token>' "
                                          "(the page's API token box)", [(b"www-authenticate", b"Bearer")])
        length = headers.get(b"content-length", b"0")
        if length.isdigit() and int(length) > self._max_body:
            return json_response(413, f"request body larger than the limit of {self._max_body:,} bytes")
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        answer = self.refusal(scope)
        if answer is not None:
            for message in answer:
                await send(message)
            return
        more_body, received = True, 0

        async def timed_receive() -> Message:
            nonlocal more_body, received
            if not more_body:  # body complete: later reads only wait for a disconnect
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self._body_timeout)
            except TimeoutError:
                raise HTTPException(408, f"the request body did not arrive within {self._body_timeout:g} s") from None
            received += len(message.get("body", b""))
            if received > self._max_body:  # a body without Content-Length (chunked)
                raise HTTPException(413, f"request body larger than the limit of {self._max_body:,} bytes")
            more_body = message["type"] == "http.request" and message.get("more_body", False)
            return message

        await self.app(scope, timed_receive, send)
