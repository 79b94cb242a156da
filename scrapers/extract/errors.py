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
