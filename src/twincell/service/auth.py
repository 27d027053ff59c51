"""Optional bearer-token authentication for the ``/v1`` API.

The token comes from the ``TWINCELL_API_TOKEN`` environment variable or from a file; when one is set,
every ``/v1`` request without ``Authorization: Bearer <token>`` is answered 401 before its body is
read, so no work is done for it. The page, ``/healthz`` and the OpenAPI schema stay open.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from twincell.errors import TwinCellError

TOKEN_ENV = "TWINCELL_API_TOKEN"
PROTECTED_PREFIX = "/v1/"


def resolve_token(token_file: str | os.PathLike | None = None) -> str | None:
    """The API token: the first line of ``token_file`` if given, else ``$TWINCELL_API_TOKEN``, else None.

    Raises
    ------
    TwinCellError
        The token file is missing, unreadable or empty.
    """
    if token_file is None:
        return os.environ.get(TOKEN_ENV) or None
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


class BearerAuth:
    """ASGI middleware requiring ``Authorization: Bearer <token>`` on every ``/v1/`` request.

    The comparison takes constant time (:func:`secrets.compare_digest`).
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PROTECTED_PREFIX):
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not secrets.compare_digest(given, self._expected):
                body = json.dumps({"detail": "missing or wrong bearer token"}).encode()
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode()),
                                        (b"www-authenticate", b"Bearer")]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
