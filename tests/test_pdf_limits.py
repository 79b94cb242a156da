"""PDFs are parsed in a child process under a memory limit and a timeout: a bomb, a hang, a
corrupt file or a scan each fail with their own one-line PdfError, and the crawler's process
neither grows nor waits past the limit. Good PDFs read exactly as pypdf reads them in-process."""

from __future__ import annotations

import io
import os
import resource
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from pipelines.cli import main
from scrapers.extract import pdf
from scrapers.extract.document import read_document
from scrapers.extract.errors import (
    PdfEmptyText,
    PdfTimeout,
    PdfTooBig,
    PdfUnreadable,
    UnreadableDocument,
)
from scrapers.extract.pdf import pdf_text
from scrapers.extract.pdf_worker import SLEEP_ENV

ROOT = Path(__file__).resolve().parents[1]
PDFS = sorted((ROOT / "tests").rglob("*.pdf"))
DECK = ROOT / "tests/fixtures/pt_iapmei_clusters/role-of-clusters-european-recovery-plans.pdf"
MiB = 2**20
LOW_LIMIT = 200 * MiB


@pytest.fixture(autouse=True)
def fresh_worker() -> Iterator[None]:
    """Each test starts and leaves without a shared worker (a test hook is read at start)."""
    pdf.shutdown_worker()
    yield
    pdf.shutdown_worker()


def raw_pdf(streams: list[bytes]) -> bytes:
    """A PDF with one page per Flate-compressed content stream, and a correct xref."""
    n = len(streams)
    font = 3 + 2 * n
    kids = b" ".join(b"%d 0 R" % (3 + 2 * i) for i in range(n))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, n)]
    for i, stream in enumerate(streams):
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
                       b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (4 + 2 * i, font))
        objects.append(b"<< /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream"
                       % (len(stream), stream))
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
              % (len(objects) + 1, xref))
    return out.getvalue()


def flate_bomb(size: int) -> bytes:
    """`size` bytes of blank content, compressed a MiB at a time (the test never holds them)."""
    compressor = zlib.compressobj(9)
    chunk = b" " * MiB
    return b"".join(compressor.compress(chunk) for _ in range(size // MiB)) + compressor.flush()


def bomb_pdf() -> bytes:
    """~200 KiB that inflate to 3 x 70 MiB: under pypdf's per-stream cap (75 MB), so only the
    worker's memory limit stops it."""
    return raw_pdf([flate_bomb(70 * MiB)] * 3)


def blank_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def rss() -> int:
    """This process's resident memory now, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def worker_children() -> list[int]:
    """Live pdf_worker processes whose parent is this process."""
    out = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines()
                          if ":\t" in line)
            cmdline = (status.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields["PPid"]) == os.getpid() and b"pdf_worker.py" in cmdline:
            out.append(int(status.parent.name))
    return out


@pytest.mark.parametrize("path", PDFS, ids=[p.name for p in PDFS])
def test_good_pdfs_read_as_pypdf_reads_them_in_process(path: Path) -> None:
    expected = "\f".join(page.extract_text() or "" for page in PdfReader(path).pages)
    assert expected.strip()
    assert pdf_text(path.read_bytes()) == expected


def test_the_worker_is_reused_and_replaced_when_its_limit_changes() -> None:
    body = DECK.read_bytes()
    first = pdf_text(body)
    worker = pdf._worker
    assert worker is not None and worker.alive()
    assert pdf_text(body) == first and pdf._worker is worker and worker.jobs == 2
    assert pdf_text(body, memory_limit=LOW_LIMIT) == first
    assert pdf._worker is not worker and not worker.alive()


def test_a_decompression_bomb_fails_on_the_memory_limit_not_the_crawler() -> None:
    body = bomb_pdf()
    assert len(body) < MiB
    pdf_text(DECK.read_bytes(), memory_limit=LOW_LIMIT)  # the worker's start is not measured
    rss_before = rss()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with pytest.raises(PdfTooBig, match="needs more than 200 MiB of memory"):
        pdf_text(body, memory_limit=LOW_LIMIT)
    assert rss() - rss_before < 32 * MiB
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - peak_before < 32 * MiB
    # The worker that hit the limit is gone; the next PDF gets a fresh one.
    assert pdf._worker is None
    assert pdf_text(DECK.read_bytes(), memory_limit=LOW_LIMIT).startswith(
        PdfReader(DECK).pages[0].extract_text()
    )


def test_the_bomb_through_read_document_with_the_limit_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv(pdf.MEMORY_ENV, "200")
    with pytest.raises(PdfTooBig, match="200 MiB"):
        read_document(bomb_pdf(), url="https://example.org/bomb.pdf")


def test_a_parse_that_hangs_is_killed_at_the_timeout(monkeypatch) -> None:
    monkeypatch.setenv(SLEEP_ENV, "30")
    started = time.monotonic()
    with pytest.raises(PdfTimeout, match="longer than 1 s"):
        pdf_text(DECK.read_bytes(), timeout=1)
    assert time.monotonic() - started < 1 + 2
    assert pdf._worker is None and worker_children() == []
    monkeypatch.delenv(SLEEP_ENV)
    assert pdf_text(DECK.read_bytes(), timeout=10).strip()


def test_the_timeout_comes_from_the_environment_through_read_document(monkeypatch) -> None:
    monkeypatch.setenv(SLEEP_ENV, "30")
    monkeypatch.setenv(pdf.TIMEOUT_ENV, "1")
    started = time.monotonic()
    with pytest.raises(PdfTimeout):
        read_document(DECK.read_bytes())
    assert time.monotonic() - started < 1 + 2


@pytest.mark.parametrize(
    "body",
    [
        b"%PDF-1.7\n garbage",
        DECK.read_bytes()[: DECK.stat().st_size // 2],
        b"%PDF-1.4\n" + bytes(range(256)) * 8,
    ],
    ids=["garbage", "truncated", "binary"],
)
def test_a_corrupt_pdf_is_unreadable(body: bytes) -> None:
    with pytest.raises(PdfUnreadable, match="broken PDF") as raised:
        pdf_text(body)
    assert "\n" not in raised.value.reason
    with pytest.raises(PdfUnreadable):
        read_document(body)


def test_a_page_without_text_is_empty_text_not_an_empty_field() -> None:
    with pytest.raises(PdfEmptyText, match="1 page.*no text layer"):
        pdf_text(blank_pdf())
    with pytest.raises(PdfEmptyText):
        read_document(blank_pdf(), kind="project")
    # A blank content stream inflated from a few bytes reads the same way.
    with pytest.raises(PdfEmptyText, match="2 page"):
        pdf_text(raw_pdf([zlib.compress(b" " * 1000)] * 2))


def test_every_pdf_error_keeps_the_unreadable_document_contract() -> None:
    for error in (PdfTooBig, PdfTimeout, PdfUnreadable, PdfEmptyText):
        assert issubclass(error, UnreadableDocument)
        assert error("two\n  lines").reason == "two lines"


def test_clusterdata_extract_prints_one_line_and_fails(tmp_path: Path, capsys) -> None:
    bomb = tmp_path / "bomb.pdf"
    bomb.write_bytes(bomb_pdf())
    script = Path(sys.executable).with_name("clusterdata")
    proc = subprocess.run([str(script), "extract", str(bomb)], capture_output=True, text=True,
                          env={**os.environ, pdf.MEMORY_ENV: "200"}, timeout=60, check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    (line,) = proc.stderr.strip().splitlines()
    reason = "PDF needs more than 200 MiB of memory to read"
    assert line == f"error: unreadable document {bomb}: {reason}"
    blank = tmp_path / "blank.pdf"
    blank.write_bytes(blank_pdf())
    assert main(["extract", str(blank)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.strip().splitlines()
    assert line.startswith(f"error: unreadable document {blank}: ") and "no text layer" in line
