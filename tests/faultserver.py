"""A loopback HTTP server that fails the ways real sources fail, for the crawler's tests.

Every hit is logged with its time, so tests can assert attempt counts and the gaps between them.
"""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections import defaultdict
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROBOTS = b"User-agent: *\nDisallow: /private\n"
PAGE = "<html><head><title>{title}</title></head><body><h1>{title}</h1><p>{text}</p></body></html>"
BIG_BYTES = 50 * 1024 * 1024
BOMB_INFLATED = 100 * 1024 * 1024


def _bomb() -> bytes:
    # 100 MiB of zeros gzip to about 100 KB.
    return gzip.compress(b"\0" * BOMB_INFLATED, compresslevel=9)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the crawler hanging up on /big or /slow is the point of those routes


class FaultServer:
    """Start with `with FaultServer() as srv:`; `srv.url('/ok')`, `srv.hits['/ok']`."""

    def __init__(self) -> None:
        self.hits: dict[str, list[float]] = defaultdict(list)
        # The request headers of each hit, per path (conditional requests are asserted on).
        self.request_headers: dict[str, list[dict[str, str]]] = defaultdict(list)
        self._bomb = _bomb()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None):
                self.send_response(status)
                headers = {"Content-Type": "text/html; charset=utf-8", **(headers or {})}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                path = self.path.split("?", 1)[0]
                server.hits[path].append(time.monotonic())
                server.request_headers[path].append(dict(self.headers.items()))
                n = len(server.hits[path])
                page = PAGE.format(title=path.strip("/") or "home", text="fine").encode()
                if path == "/robots.txt":
                    self._send(200, ROBOTS, {"Content-Type": "text/plain"})
                elif path in ("/ok", "/private"):
                    self._send(200, page)
                elif path == "/always500":
                    self._send(500, b"down")
                elif path == "/r429":  # once rate-limited for 1 s, then fine
                    if n == 1:
                        self._send(429, b"slow down", {"Retry-After": "1"})
                    else:
                        self._send(200, page)
                elif path == "/r429date":  # the same, with an HTTP date 2 s ahead
                    if n == 1:
                        when = formatdate(time.time() + 2, usegmt=True)
                        self._send(503, b"busy", {"Retry-After": when})
                    else:
                        self._send(200, page)
                elif path == "/r429long":
                    self._send(429, b"come back tomorrow", {"Retry-After": "86400"})
                elif path == "/charset-lie":  # latin-1 bytes; header: utf-8; markup: latin-1
                    body = (
                        '<html><head><meta charset="iso-8859-1"><title>M\u00fchlheim</title>'
                        "</head><body><p>Stadt M\u00fchlheim an der Donau</p></body></html>"
                    ).encode("latin-1")
                    self._send(200, body)
                elif path == "/charset-broken":  # valid utf-8 with U+FFFD damage already in it
                    body = "<html><body><p>M\ufffdhlheim</p></body></html>".encode()
                    self._send(200, body)
                elif path == "/big":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(BIG_BYTES))
                    self.end_headers()
                    chunk = b"x" * (1024 * 1024)
                    try:
                        for _ in range(BIG_BYTES // len(chunk)):
                            self.wfile.write(chunk)
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                elif path == "/gzipbomb":
                    self._send(
                        200, server._bomb, {"Content-Encoding": "gzip", "Content-Type": "text/html"}
                    )
                elif path == "/loop":
                    self._send(302, b"", {"Location": "/loop"})
                elif path == "/tofile":
                    self._send(302, b"", {"Location": "file:///etc/passwd"})
                elif path == "/truncated":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", "10000")
                    self.end_headers()
                    self.wfile.write(b"<html><body>cut")
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                elif path == "/reset":
                    # SO_LINGER 0: close sends RST, not FIN.
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0"
                    )
                    self.connection.close()
                elif path in ("/etag", "/etag-then-500"):  # a page with validators
                    validators = {"ETag": '"v1"', "Last-Modified": "Mon, 02 Nov 2026 10:00:00 GMT"}
                    if path == "/etag-then-500" and n > 1:
                        self._send(500, b"down")
                    elif self.headers.get("If-None-Match") == '"v1"':
                        self._send(304, b"", validators)
                    else:
                        self._send(200, page, validators)
                elif path == "/slow":
                    time.sleep(3)
                    self._send(200, page)
                else:
                    self._send(404, b"not here")

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def gaps(self, path: str) -> list[float]:
        times = self.hits[path]
        return [b - a for a, b in zip(times, times[1:], strict=False)]

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
