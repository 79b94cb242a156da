"""Text of a PDF, or a loud refusal: never an empty string standing in for a failed parse."""

from __future__ import annotations

import io

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError, PdfReadError

from scrapers.extract.errors import UnreadableDocument

# Page breaks come out as form feeds, as pdftotext writes them, so callers can tell slides apart.
PAGE_BREAK = "\f"


def pdf_text(data: bytes) -> str:
    """Text of every page of a PDF, pages separated by a form feed; raise UnreadableDocument."""
    if not data:
        raise UnreadableDocument("empty body")
    # The header may follow a little junk (PDF readers accept it within the first 1 KiB).
    if b"%PDF-" not in data[:1024]:
        raise UnreadableDocument(f"not a PDF: body starts with {data[:16]!r}")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # PDFs that only restrict printing or copying open with the empty user password and
            # are read; a real password means the text is out of reach.
            try:
                opened = reader.decrypt("")
            except (DependencyError, NotImplementedError) as error:
                raise UnreadableDocument(f"encrypted PDF: {error}") from error
            if opened == PasswordType.NOT_DECRYPTED:
                raise UnreadableDocument("encrypted PDF: a password is needed to read it")
        pages = [page.extract_text() or "" for page in reader.pages]
    except PdfReadError as error:
        raise UnreadableDocument(f"broken PDF: {error}") from error
    if not pages:
        raise UnreadableDocument("PDF has no pages")
    if not "".join(pages).strip():
        raise UnreadableDocument("PDF has no text layer (scanned images?)")
    return PAGE_BREAK.join(pages)
