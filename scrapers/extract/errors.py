"""Errors the extractors raise when a document cannot be read at all."""

from __future__ import annotations


class UnreadableDocument(Exception):
    """A response body that yields no trustworthy text: encrypted, not the format it claims, empty.

    The caller records the document as unreadable; it never stores an empty string in its place.
    """

    def __init__(self, reason: str) -> None:
        # One line, whatever the library underneath wrote: the CLI prints it as `error: ...`.
        reason = " ".join(str(reason).split())
        super().__init__(reason)
        self.reason = reason


class PdfError(UnreadableDocument):
    """A PDF the worker process gave no text for; the subclass says why, `reason` in one line.

    A subclass of UnreadableDocument so that every caller's contract holds: the page is recorded
    as unreadable with its reason, the CLI prints `error: ...` and exits non-zero.
    """


class PdfTooBig(PdfError):
    """Past a cap: the worker's memory limit, pypdf's decompression limit, pages or characters."""


class PdfTimeout(PdfError):
    """The parse ran past its wall-clock limit; the worker was killed."""


class PdfUnreadable(PdfError):
    """Not a PDF, a broken or encrypted one, no pages, or a parser that died on it."""


class PdfEmptyText(PdfError):
    """Pages but no text layer (a scan): a failure, never an empty field."""
