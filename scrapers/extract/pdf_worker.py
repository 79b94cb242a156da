"""The child process that reads PDFs for `scrapers.extract.pdf`: pypdf under a memory cap.

A hostile PDF (a decompression bomb, a content stream built to exhaust the parser) must cost
this process, never the crawler. `pdf.py` starts it as `python -P pdf_worker.py LIMIT_BYTES`
with an exec, not a fork (a fork of a process running Twisted's reactor copies its threads'
locks and its sockets). It imports only the standard library and pypdf, not the `scrapers`
package: start-up stays cheap, and the capped address space is left to the document.

Protocol on stdin/stdout, every frame an 8-byte big-endian length then the payload: once
started it writes {"ready": true} (or {"error": "startup", "reason"}); per PDF it reads a JSON
frame {"max_pages", "max_chars", "timeout"} then a frame of the PDF's bytes, and writes one JSON
frame, {"text"} or {"error": too_big | unreadable | empty_text, "reason"}, with "log": pypdf's
log records as [level, logger, message] for the parent to log as if it had parsed the file,
and "exiting": true when it is about to exit. It exits at the end of its input, and after a
MemoryError (its heap may be left fragmented).
"""

from __future__ import annotations

import io
import json
import logging
import os
import resource
import signal
import struct
import sys
import time
from typing import Any, BinaryIO

FRAME = struct.Struct("!Q")
PAGE_BREAK = "\f"
# Test hook: seconds to sleep before each parse, so a test can make the parser "hang".
SLEEP_ENV = "CLUSTERDATA_PDF_TEST_SLEEP_S"
# Past the parent's timeout plus this, the worker is ended by SIGALRM even if the parent is gone.
ALARM_GRACE_S = 5
MAX_LOG_RECORDS = 50


class Refused(Exception):
    """A PDF the worker gives up on; `kind` is the parent's exception, `reason` its one line."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


class LogBuffer(logging.Handler):
    """pypdf's warnings (a broken xref, a missing font), kept for the reply."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[list[Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.records) < MAX_LOG_RECORDS:
            self.records.append([record.levelno, record.name, record.getMessage()])


def read_exact(stream: BinaryIO, size: int) -> bytes | None:
    """`size` bytes from the stream; None at the end of input."""
    data = bytearray()
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def read_frame(stream: BinaryIO) -> bytes | None:
    header = read_exact(stream, FRAME.size)
    if header is None:
        return None
    return read_exact(stream, FRAME.unpack(header)[0])


def write_frame(stream: BinaryIO, message: dict[str, Any]) -> None:
    payload = json.dumps(message, ensure_ascii=False).encode("utf-8", "surrogatepass")
    stream.write(FRAME.pack(len(payload)) + payload)
    stream.flush()


def extract(data: bytes, max_pages: int, max_chars: int) -> str:
    """Text of every page, pages separated by a form feed; Refused when there is none to trust."""
    from pypdf import PasswordType, PdfReader
    from pypdf.errors import DependencyError, LimitReachedError, PdfReadError, PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # PDFs that only restrict printing or copying open with the empty user password and
            # are read; a real password means the text is out of reach.
            try:
                opened = reader.decrypt("")
            except (DependencyError, NotImplementedError) as error:
                raise Refused("unreadable", f"encrypted PDF: {error}") from error
            if opened == PasswordType.NOT_DECRYPTED:
                raise Refused("unreadable", "encrypted PDF: a password is needed to read it")
        if len(reader.pages) > max_pages:
            raise Refused("too_big", f"PDF has {len(reader.pages)} pages, more than {max_pages}")
        pages = []
        size = 0
        for page in reader.pages:
            pages.append(page.extract_text() or "")
            size += len(pages[-1])
            if size > max_chars:
                raise Refused("too_big", f"PDF text runs past {max_chars} characters")
    except LimitReachedError as error:
        raise Refused("too_big", f"PDF refused (decompression limit): {error}") from error
    except PdfReadError as error:
        raise Refused("unreadable", f"broken PDF: {error}") from error
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        # pypdf raises plain Python errors on some malformed object graphs.
        raise Refused("unreadable", f"broken PDF: {type(error).__name__}: {error}") from error
    if not pages:
        raise Refused("unreadable", "PDF has no pages")
    if not "".join(pages).strip():
        raise Refused("empty_text", f"PDF has {len(pages)} page(s) but no text layer (scanned?)")
    return PAGE_BREAK.join(pages)


def serve(requests: BinaryIO, replies: BinaryIO, memory_limit: int, log: LogBuffer) -> int:
    """Answer requests until the input ends (0) or a MemoryError spoils the heap (3)."""
    while True:
        header = read_frame(requests)
        data = read_frame(requests) if header is not None else None
        if header is None or data is None:
            return 0
        job = json.loads(header)
        log.records = []
        # A backstop for a parser stuck in C code while its parent is gone: SIGALRM's default
        # action ends the process.
        signal.alarm(int(job["timeout"]) + ALARM_GRACE_S)
        failed_on_memory = False
        try:
            if os.environ.get(SLEEP_ENV):
                time.sleep(float(os.environ[SLEEP_ENV]))
            reply: dict[str, Any] = {"text": extract(data, job["max_pages"], job["max_chars"])}
        except Refused as refused:
            reply = {"error": refused.kind, "reason": refused.reason}
        except MemoryError:
            failed_on_memory = True
            reply = {
                "error": "too_big",
                "reason": f"PDF needs more than {memory_limit >> 20} MiB of memory to read",
            }
        finally:
            signal.alarm(0)
        del data
        reply["log"] = log.records
        reply["exiting"] = failed_on_memory
        write_frame(replies, reply)
        if failed_on_memory:
            return 3


def main(argv: list[str]) -> int:
    memory_limit = int(argv[0])
    # Stray prints from any library must not corrupt the replies: fd 1 becomes stderr, and the
    # replies go to a private copy of the original stdout.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    requests = sys.stdin.buffer
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        memory_limit = min(memory_limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (memory_limit, hard))
    log = LogBuffer()
    logging.getLogger().addHandler(log)
    logging.getLogger().setLevel(logging.INFO)
    try:
        import pypdf  # noqa: F401  (imported under the cap, so a too-low cap shows here)
    except MemoryError:
        write_frame(replies, {
            "error": "startup",
            "reason": f"a memory limit of {memory_limit >> 20} MiB cannot even load pypdf",
        })
        return 2
    write_frame(replies, {"ready": True})
    return serve(requests, replies, memory_limit, log)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
