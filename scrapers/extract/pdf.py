"""Text of a PDF, or a loud refusal: never an empty string standing in for a failed parse."""

from __future__ import annotations

import io

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError, LimitReachedError, PdfReadError, PyPdfError

from scrapers.extract.errors import UnreadableDocument

# Page breaks come out as form feeds, as pdftotext writes them, so callers can tell slides apart.
PAGE_BREAK = "\f"
# Caps against decompression bombs and absurd documents: pypdf itself refuses a stream that
# inflates past its configured limit (LimitReachedError); past these, the document is refused.
MAX_PAGES = 500
MAX_TEXT_CHARS = 5_000_000


def pdf_text(data: bytes, max_pages: int = MAX_PAGES, max_chars: int = MAX_TEXT_CHARS) -> str:
    """Text of every page of a PDF, pages separated by a form feed; raise UnreadableDocument.

    A PDF with more than `max_pages` pages, or whose text runs past `max_chars`, is refused
    rather than half-read: a truncated list would be published as if it were the whole one.
    """
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
        if len(reader.pages) > max_pages:
            raise UnreadableDocument(f"PDF has {len(reader.pages)} pages, more than {max_pages}")
        pages = []
        size = 0
        for page in reader.pages:
            pages.append(page.extract_text() or "")
            size += len(pages[-1])
            if size > max_chars:
                raise UnreadableDocument(f"PDF text runs past {max_chars} characters")
    except LimitReachedError as error:
        raise UnreadableDocument(f"PDF refused (decompression limit): {error}") from error
    except PdfReadError as error:
        raise UnreadableDocument(f"broken PDF: {error}") from error
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        # pypdf raises plain Python errors on some malformed object graphs.
        raise UnreadableDocument(f"broken PDF: {type(error).__name__}: {error}") from error
    if not pages:
        raise UnreadableDocument("PDF has no pages")
    if not "".join(pages).strip():
        raise UnreadableDocument("PDF has no text layer (scanned images?)")
    return PAGE_BREAK.join(pages)
