"""Datasette plugin: security headers on every response of the public server.

Every cell Datasette shows is scraped text, escaped by its templates; the Content-Security-Policy
is the second wall for the day a template or plugin forgets to escape: scripts only from this
origin, plus the inline scripts that Datasette's templates and the installed plugins write (their
text comes from code and configuration, never from the data), allowed by their hashes. An
injected <script> has no matching hash, so the browser refuses it."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import datasette
from datasette import hookimpl
from datasette.plugins import pm
from datasette.utils import await_me_maybe

# Inline <script> blocks whose text is fixed (no Jinja expression inside): those of Datasette's
# templates and of ours. A block built from data would need a nonce; none exists today, and the
# safety test fails when a page carries an inline script this list does not cover.
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
TEMPLATE_DIRS = (
    Path(datasette.__file__).with_name("templates"),
    Path(__file__).resolve().parents[1] / "templates",
)
# table.html writes `DATASETTE_ALLOW_FACET = {{ datasette_allow_facet }};` with true or false.
RENDERED_INLINE_SCRIPTS = (
    "DATASETTE_ALLOW_FACET = true;",
    "DATASETTE_ALLOW_FACET = false;",
)


def script_hash(text: str) -> str:
    """The CSP source expression allowing one inline script: 'sha256-<base64 digest>'."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def static_inline_scripts(template_dirs: Iterable[Path] = TEMPLATE_DIRS) -> list[str]:
    """The text of every inline script in the templates that holds no Jinja expression."""
    scripts = list(RENDERED_INLINE_SCRIPTS)
    for directory in template_dirs:
        for template in sorted(Path(directory).glob("*.html")):
            for text in _INLINE_SCRIPT.findall(template.read_text(encoding="utf-8")):
                if "{{" not in text and "{%" not in text:
                    scripts.append(text)
    return list(dict.fromkeys(scripts))


# The pages Datasette renders, and the template each uses, as extra_body_script sees them.
_VIEWS = {
    "index": "index.html",
    "database": "database.html",
    "table": "table.html",
    "row": "row.html",
    "query": "query.html",
}


async def plugin_inline_scripts(ds: Any) -> list[str]:
    """The text of every extra_body_script the installed plugins give, for each page kind of each
    table (datasette-leaflet, datasette-cluster-map...), as Datasette would render it.

    A plugin's script depends on its configuration and the table's columns, not on the rows, so
    the set is known once the databases are."""
    contexts: list[tuple[str | None, str | None, list[str] | None]] = [(None, None, None)]
    for name, database in ds.databases.items():
        contexts.append((name, None, None))
        for table in await database.table_names():
            contexts.append((name, table, await database.table_columns(table)))
    scripts = []
    for database, table, columns in contexts:
        for view_name, template in _VIEWS.items():
            try:
                results = pm.hook.extra_body_script(
                    template=template,
                    database=database,
                    table=table,
                    columns=columns,
                    view_name=view_name,
                    request=None,
                    datasette=ds,
                )
                for result in results:
                    result = await await_me_maybe(result)
                    scripts.append(str(result["script"] if isinstance(result, dict) else result))
            # A plugin that needs a real request for its script: that script stays blocked (the
            # safe side), and the safety test names it.
            except Exception:  # noqa: BLE001
                continue
    return list(dict.fromkeys(scripts))


def content_security_policy(extra_scripts: Iterable[str] = ()) -> str:
    """The policy: same-origin scripts (plus the hashed inline ones), styles, fonts and fetches;
    map tiles and data: images from anywhere over https; no plugins, no framing, forms post only
    here."""
    scripts = dict.fromkeys([*static_inline_scripts(), *extra_scripts])
    hashes = " ".join(script_hash(text) for text in scripts)
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' {hashes}",
            # Datasette's templates set style="" attributes (page-header colours, textarea height).
            "style-src 'self' 'unsafe-inline'",
            # Map tiles (OpenStreetMap and the like) are the one thing a page loads from elsewhere.
            "img-src 'self' data: https:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def security_headers(extra_scripts: Iterable[str] = ()) -> list[tuple[bytes, bytes]]:
    """The headers added to every response (the CSP only matters for HTML, but costs nothing)."""
    return [
        (b"content-security-policy", content_security_policy(extra_scripts).encode("ascii")),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"strict-origin-when-cross-origin"),
        (b"x-frame-options", b"DENY"),
    ]


ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]


@hookimpl
def asgi_wrapper(datasette: Any) -> Callable[[ASGIApp], ASGIApp]:
    """Wrap Datasette's ASGI app so each http.response.start carries the headers (replacing any
    header of the same name a view set)."""
    names = {name for name, _ in security_headers()}
    computed: list[list[tuple[bytes, bytes]]] = []

    def wrap(app: ASGIApp) -> ASGIApp:
        async def with_headers(scope: dict, receive: Callable, send: Callable) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            if not computed:
                # On the first request: the databases are attached by then, and a restart (new
                # release) starts a new process.
                computed.append(security_headers(await plugin_inline_scripts(datasette)))
            headers = computed[0]

            async def send_with_headers(event: dict) -> None:
                if event["type"] == "http.response.start":
                    kept = [(k, v) for k, v in event.get("headers", []) if k.lower() not in names]
                    event = {**event, "headers": kept + headers}
                await send(event)

            await app(scope, receive, send_with_headers)

        return with_headers

    return wrap
