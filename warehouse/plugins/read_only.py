"""Datasette plugin: the public servers answer GET, HEAD and OPTIONS only.

Datasette 0.65 has no write API, and our canned queries are all read-only (a test asserts it);
refusing every other method before Datasette sees the request also closes what is left: POSTs to
canned queries, /-/messages, /-/permissions and any endpoint a later plugin might add."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from datasette import hookimpl

ALLOWED_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # OPTIONS: CORS preflight (--cors)

ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]


async def _method_not_allowed(send: Callable) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 405,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"x-content-type-options", b"nosniff"),
                (b"allow", ", ".join(sorted(ALLOWED_METHODS)).encode("ascii")),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"This server is read-only.\n"})


@hookimpl
def asgi_wrapper() -> Callable[[ASGIApp], ASGIApp]:
    """Refuse any other method with 405 before Datasette routes the request."""

    def wrap(app: ASGIApp) -> ASGIApp:
        async def read_only(scope: dict, receive: Callable, send: Callable) -> None:
            if scope["type"] == "http" and scope["method"] not in ALLOWED_METHODS:
                await _method_not_allowed(send)
                return
            await app(scope, receive, send)

        return read_only

    return wrap
