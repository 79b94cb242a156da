"""The replay layer: offline never reaches the network; an unrecorded URL fails loudly."""

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from scrapy.http import HtmlResponse, Request

from scrapers.replay import RecordMiddleware, load_index, request_key

ROOT = Path(__file__).resolve().parents[1]


def crawl(source_id: str, out: Path, recordings: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scrapers.crawl", source_id, "--out", str(out), "--offline",
         "--recordings", str(recordings), "--log-file", str(out.with_suffix(".log"))],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )


def test_unrecorded_url_is_an_error_naming_it(recordings_copy, tmp_path):
    index_path = recordings_copy / "pt_ticept_projects" / "index.json"
    index = json.loads(index_path.read_text())
    index["responses"][0]["url"] = "https://tice.pt/en/somewhere-else"
    index_path.write_text(json.dumps(index))
    out = tmp_path / "run.jsonl"
    proc = crawl("pt_ticept_projects", out, recordings_copy)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: pt_ticept_projects: offline: no recording for GET "
                           "https://tice.pt/en/projects-and-studies/connection")
    assert not out.exists() and not out.with_name("run.jsonl.partial").exists()


def test_missing_recordings_folder_is_a_clear_error(tmp_path):
    proc = crawl("pt_ticept_projects", tmp_path / "run.jsonl", tmp_path / "nowhere")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"error: no recordings for pt_ticept_projects in {tmp_path / 'nowhere'}"
    )


def test_record_middleware_writes_the_replay_layout(tmp_path):
    spider = SimpleNamespace(name="eu_example_calls")
    mw = RecordMiddleware(tmp_path)
    mw.crawler = SimpleNamespace(spider=spider)
    request = Request("https://example.org/calls/1?lang=en")
    response = HtmlResponse(
        request.url, body=b"<html><body>call</body></html>",
        headers={"Content-Type": "text/html; charset=utf-8"}, request=request,
    )
    assert mw.process_response(request, response, spider) is response
    index = load_index(tmp_path / "eu_example_calls")
    rec = index[request_key("GET", request.url)]
    assert rec.file.read_bytes() == b"<html><body>call</body></html>"
    assert rec.status == 200 and not rec.reconstructed
    assert rec.headers["Content-Type"].startswith("text/html")
    # Recording the same URL again replaces the entry instead of adding a second one.
    mw.process_response(request, response, spider)
    assert len(json.loads((tmp_path / "eu_example_calls" / "index.json").read_text())
               ["responses"]) == 1


def test_post_requests_are_keyed_by_their_body():
    a = request_key("POST", "https://example.org/q", b"page=0")
    b = request_key("POST", "https://example.org/q", b"page=1")
    assert a != b and a.startswith("POST https://example.org/q ")
