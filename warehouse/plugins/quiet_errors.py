"""Datasette plugin: cheap error pages, and a 400 for a result too large to hold.

When the `rich` package is importable (it is: our CLI uses it), Datasette's default exception
handler prints every exception, a 404 for a mistyped URL included, as a rich traceback with the
locals of every frame: about half a second of CPU on the server's event loop per bad request,
during which nothing else is served. Measured on this project: a 404 took 1 s where a whole
table page took 0.13 s, so anyone requesting missing pages in a loop starved the server. With
rich out of its way the handler answers exactly as before (status, JSON or HTML error page);
real server errors (500) still print their traceback, the plain one."""

from __future__ import annotations

from typing import Any

import datasette.handle_exception as default_exception_handler
from datasette import Response, hookimpl

# Datasette 0.65 reads this module global on each exception; None is its own "rich not
# installed" case.
default_exception_handler.rich = None

TOO_LARGE = (
    "The result is too large for this server: select fewer rows or shorter values "
    "(for example with LIMIT, substr() or length())."
)


@hookimpl
def handle_exception(request: Any, exception: BaseException) -> Response | None:
    """A query whose result does not fit the SQL server's memory cap is the client's request,
    not a server fault: 400, and the server goes on. Anything else: Datasette's handler."""
    if not isinstance(exception, MemoryError):
        return None
    if request.path.endswith(".json"):
        return Response.json({"ok": False, "error": TOO_LARGE, "status": 400}, status=400)
    return Response.text(TOO_LARGE, status=400)
