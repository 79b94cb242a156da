"""Text of a PDF, or a loud refusal: never an empty string standing in for a failed parse.

The parse runs in a child process (pdf_worker.py) under a memory limit (RLIMIT_AS) and a
wall-clock timeout, so a decompression bomb or a parser stuck in a loop costs the child, not
the crawler: the child is killed and the PDF fails with a PdfError naming why. The child is
started with an exec (subprocess), never a fork of a process running Twisted's reactor, and
is reused from PDF to PDF: a start costs ~0.15 s, a reused worker ~1 ms per PDF on top of the
parse. Limits come from the arguments, else CLUSTERDATA_PDF_MEMORY_MIB and
CLUSTERDATA_PDF_TIMEOUT_S, else the constants below.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from scrapers.extract.errors import (
    PdfEmptyText,
    PdfError,
    PdfTimeout,
    PdfTooBig,
    PdfUnreadable,
)
from scrapers.extract.pdf_worker import FRAME

# Page breaks come out as form feeds, as pdftotext writes them, so callers can tell slides apart.
PAGE_BREAK = "\f"
# Caps against decompression bombs and absurd documents: pypdf itself refuses a stream that
# inflates past its configured limit (LimitReachedError); past these, the document is refused.
MAX_PAGES = 500
MAX_TEXT_CHARS = 5_000_000
# The worker's whole address space (the interpreter and pypdf take ~55 MiB of it).
MEMORY_LIMIT_BYTES = 768 * 2**20
TIMEOUT_S = 60.0
MEMORY_ENV = "CLUSTERDATA_PDF_MEMORY_MIB"
TIMEOUT_ENV = "CLUSTERDATA_PDF_TIMEOUT_S"
# A worker is replaced after this many PDFs, so its heap cannot creep towards the limit.
MAX_JOBS_PER_WORKER = 200
START_TIMEOUT_S = 30.0
WORKER_SCRIPT = Path(__file__).with_name("pdf_worker.py")
ERRORS: dict[str, type[PdfError]] = {
    "too_big": PdfTooBig,
    "unreadable": PdfUnreadable,
    "empty_text": PdfEmptyText,
}


class _WorkerGone(Exception):
    """The worker closed its output: it died (crash, signal) or exited."""


class _Expired(Exception):
    """The deadline passed before the worker's reply was complete."""


class PdfWorker:
    """One child process that reads PDFs, one at a time, under `memory_limit` bytes."""

    def __init__(self, memory_limit: int) -> None:
        self.memory_limit = memory_limit
        self.jobs = 0
        self.exiting = False
        self.owner_pid = os.getpid()
        self.proc = subprocess.Popen(
            [sys.executable, "-P", str(WORKER_SCRIPT), str(memory_limit)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # Its own session: a Ctrl-C meant for the crawl's graceful stop must not kill the
            # parse in flight. It still ends with the crawler: its input closes.
            start_new_session=True,
        )
        try:
            ready = self._reply(time.monotonic() + START_TIMEOUT_S)
        except (_WorkerGone, _Expired) as error:
            self.kill()
            raise RuntimeError(f"the PDF worker did not start ({self._how_it_ended()})") from error
        if not ready.get("ready"):
            self.kill()
            raise RuntimeError(f"the PDF worker did not start: {ready.get('reason')}")

    def read(self, data: bytes, max_pages: int, max_chars: int, timeout: float) -> str:
        """The PDF's text, or the PdfError the worker (or its death, or the clock) gives."""
        self.jobs += 1
        job = {"max_pages": max_pages, "max_chars": max_chars, "timeout": timeout}
        header = json.dumps(job).encode()
        deadline = time.monotonic() + timeout
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(FRAME.pack(len(header)) + header + FRAME.pack(len(data)))
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
            reply = self._reply(deadline, limit=6 * max_chars + 2**20)
        except _Expired:
            self.kill()
            raise PdfTimeout(
                f"PDF took longer than {timeout:g} s to read; the parser was stopped"
            ) from None
        except (_WorkerGone, BrokenPipeError):
            self.kill()
            raise PdfUnreadable(f"the PDF parser died on it ({self._how_it_ended()})") from None
        except BaseException:
            # Interrupted mid-exchange (Ctrl-C): a half-read reply would desynchronise the next.
            self.kill()
            raise
        self.exiting = bool(reply.get("exiting"))
        for level, name, message in reply.get("log") or []:
            logging.getLogger(str(name)).log(int(level), "%s", message)
        if "text" in reply:
            return str(reply["text"])
        error = ERRORS.get(str(reply.get("error")), PdfUnreadable)
        raise error(str(reply.get("reason") or "the PDF parser gave no reason"))

    def alive(self) -> bool:
        return not self.exiting and self.owner_pid == os.getpid() and self.proc.poll() is None

    def close(self) -> None:
        """End of input: the worker exits on its own; killed if it does not within 2 s."""
        if self.owner_pid != os.getpid():
            return  # a forked copy: the worker belongs to the parent
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            self.proc.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                if pipe is not None:
                    pipe.close()
            except OSError:
                pass

    def _how_it_ended(self) -> str:
        code = self.proc.poll()
        if code is None:
            return "no reply"
        if code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"exit status {code}"

    def _reply(self, deadline: float, limit: int = 2**20) -> dict[str, Any]:
        (size,) = FRAME.unpack(self._read_exact(FRAME.size, deadline))
        if size > limit:
            raise _WorkerGone(f"a reply of {size} bytes")
        return json.loads(self._read_exact(size, deadline).decode("utf-8", "surrogatepass"))

    def _read_exact(self, size: int, deadline: float) -> bytes:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        data = bytearray()
        while len(data) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise _Expired
            chunk = os.read(fd, min(size - len(data), 2**20))
            if not chunk:
                self.proc.wait()
                raise _WorkerGone
            data += chunk
        return bytes(data)


_lock = threading.Lock()
_worker: PdfWorker | None = None


def _limits(memory_limit: int | None, timeout: float | None) -> tuple[int, float]:
    """The call's limits, else the environment's, else the module's; ValueError if unusable."""
    if memory_limit is None:
        env = os.environ.get(MEMORY_ENV)
        memory_limit = int(env) * 2**20 if env else MEMORY_LIMIT_BYTES
    if timeout is None:
        env = os.environ.get(TIMEOUT_ENV)
        timeout = float(env) if env else TIMEOUT_S
    if memory_limit <= 0 or not timeout > 0:
        raise ValueError(f"PDF limits must be positive, not {memory_limit} bytes, {timeout} s")
    return memory_limit, timeout


def _read_in_worker(data: bytes, max_pages: int, max_chars: int, memory_limit: int,
                    timeout: float) -> str:
    """The shared worker reads the PDF; a dead, worn or differently capped one is replaced."""
    global _worker
    with _lock:
        if _worker is not None and not (
            _worker.alive()
            and _worker.memory_limit == memory_limit
            and _worker.jobs < MAX_JOBS_PER_WORKER
        ):
            _worker.close()
            _worker = None
        if _worker is None:
            _worker = PdfWorker(memory_limit)
        try:
            return _worker.read(data, max_pages, max_chars, timeout)
        finally:
            if not _worker.alive():
                _worker.close()
                _worker = None


@atexit.register
def shutdown_worker() -> None:
    """Ends the shared worker (it would also exit when this process's end closes its input)."""
    global _worker
    with _lock:
        if _worker is not None:
            _worker.close()
            _worker = None


def pdf_text(
    data: bytes,
    max_pages: int = MAX_PAGES,
    max_chars: int = MAX_TEXT_CHARS,
    *,
    memory_limit: int | None = None,
    timeout: float | None = None,
) -> str:
    """Text of every page of a PDF, pages separated by a form feed; raise a PdfError.

    A PDF with more than `max_pages` pages, or whose text runs past `max_chars`, is refused
    rather than half-read (PdfTooBig): a truncated list would be published as if it were the
    whole one. So is one whose parse needs more than `memory_limit` bytes (PdfTooBig) or more
    than `timeout` seconds (PdfTimeout). Pages without any text raise PdfEmptyText; anything
    else unreadable, PdfUnreadable. All are UnreadableDocument, with a one-line reason.
    """
    if not data:
        raise PdfUnreadable("empty body")
    # The header may follow a little junk (PDF readers accept it within the first 1 KiB).
    if b"%PDF-" not in data[:1024]:
        raise PdfUnreadable(f"not a PDF: body starts with {data[:16]!r}")
    memory_limit, timeout = _limits(memory_limit, timeout)
    return _read_in_worker(bytes(data), max_pages, max_chars, memory_limit, timeout)
