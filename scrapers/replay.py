"""Replay and record layer: the same spiders run live and offline.

A recording folder holds, per source, plain response bodies and an `index.json`:

    <dir>/<source_id>/index.json   {"source_id": ..., "responses": [{"url", "method", "file",
                                    "status", "headers", "fetched_at", "reconstructed", ...}]}
    <dir>/<source_id>/<file>       the body, as bytes

Offline, `ReplayMiddleware` answers every request from that index; a request with no recording is
an error that names the URL, never a network call. Live with `--record DIR`, `RecordMiddleware`
writes the same layout.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import Response
from scrapy.responsetypes import responsetypes

FETCHED_AT_HEADER = "X-Clusterdata-Fetched-At"
RECONSTRUCTED_HEADER = "X-Clusterdata-Reconstructed"
SYNTHETIC_HEADER = "X-Clusterdata-Synthetic"
INDEX_NAME = "index.json"


class UnrecordedRequest(IgnoreRequest):
    """An offline request for a URL that has no recording."""


def request_key(method: str, url: str, body: bytes = b"") -> str:
    """How a request is looked up: method, URL, and the SHA-256 of a POST body."""
    key = f"{method.upper()} {url}"
    return f"{key} {hashlib.sha256(body).hexdigest()}" if body else key


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Recording:
    url: str
    method: str
    file: Path
    status: int
    headers: dict[str, str]
    fetched_at: str
    reconstructed: bool
    # Test data: the recording holds values invented to exercise a quirk, not published facts.
    synthetic: bool = False


def load_index(folder: Path) -> dict[str, Recording]:
    """Read one source's recordings, keyed by request_key."""
    index_path = folder / INDEX_NAME
    data = json.loads(index_path.read_text(encoding="utf-8"))
    out = {}
    for entry in data["responses"]:
        body_sha = entry.get("body_sha256")
        key = request_key(entry.get("method", "GET"), entry["url"])
        if body_sha:
            key = f"{key} {body_sha}"
        out[key] = Recording(
            url=entry["url"],
            method=entry.get("method", "GET"),
            file=folder / entry["file"],
            status=int(entry.get("status", 200)),
            headers=dict(entry.get("headers") or {}),
            fetched_at=entry["fetched_at"],
            reconstructed=bool(entry.get("reconstructed", False)),
            synthetic=bool(entry.get("synthetic", data.get("synthetic", False))),
        )
    return out


class ReplayMiddleware:
    """Offline: answer requests from the recordings folder of the spider's source."""

    def __init__(self, recordings_dir: Path) -> None:
        self.recordings_dir = recordings_dir
        self._index: dict[str, Recording] | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ReplayMiddleware:
        if not crawler.settings.getbool("CLUSTERDATA_OFFLINE"):
            raise NotConfigured("live crawl")
        directory = crawler.settings.get("CLUSTERDATA_RECORDINGS_DIR")
        if not directory:
            raise NotConfigured("offline crawl needs CLUSTERDATA_RECORDINGS_DIR")
        mw = cls(Path(directory))
        mw.crawler = crawler
        return mw

    def _recordings(self, spider: Spider) -> dict[str, Recording]:
        if self._index is None:
            self._index = load_index(self.recordings_dir / spider.name)
        return self._index

    def process_request(self, request: Request, spider: Spider | None = None) -> Response:
        spider = spider or self.crawler.spider
        key = request_key(request.method, request.url, request.body)
        rec = self._recordings(spider).get(key)
        if rec is None:
            self.crawler.stats.inc_value("clusterdata/unrecorded")
            self.crawler.stats.set_value("clusterdata/unrecorded_first", key)
            spider.logger.error(
                "offline: no recording for %s in %s", key, self.recordings_dir / spider.name
            )
            raise UnrecordedRequest(f"no recording for {key}")
        body = rec.file.read_bytes()
        headers = {
            **rec.headers,
            FETCHED_AT_HEADER: rec.fetched_at,
            RECONSTRUCTED_HEADER: "1" if rec.reconstructed else "0",
            SYNTHETIC_HEADER: "1" if rec.synthetic else "0",
        }
        cls = responsetypes.from_args(headers=headers, url=rec.url, body=body)
        return cls(url=rec.url, status=rec.status, headers=headers, body=body, request=request)


_EXTENSIONS = {
    "text/html": ".html",
    "application/pdf": ".pdf",
    "application/json": ".json",
    "text/xml": ".xml",
    "application/xml": ".xml",
    "text/csv": ".csv",
}


def _file_name(url: str, content_type: str, key: str) -> str:
    path = urlsplit(url).path.rstrip("/")
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", path.rsplit("/", 1)[-1])[:60] or "index"
    stem = stem.rsplit(".", 1)[0]
    ext = _EXTENSIONS.get(content_type.split(";")[0].strip().lower(), ".bin")
    return f"{stem}-{hashlib.sha256(key.encode()).hexdigest()[:8]}{ext}"


class RecordMiddleware:
    """Live with --record: write each response into the recordings layout."""

    def __init__(self, record_dir: Path) -> None:
        self.record_dir = record_dir

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RecordMiddleware:
        directory = crawler.settings.get("CLUSTERDATA_RECORD_DIR")
        if not directory or crawler.settings.getbool("CLUSTERDATA_OFFLINE"):
            raise NotConfigured("not recording")
        mw = cls(Path(directory))
        mw.crawler = crawler
        return mw

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Response:
        spider = spider or self.crawler.spider
        folder = self.record_dir / spider.name
        folder.mkdir(parents=True, exist_ok=True)
        index_path = folder / INDEX_NAME
        index = (
            json.loads(index_path.read_text(encoding="utf-8"))
            if index_path.exists()
            else {"source_id": spider.name, "responses": []}
        )
        content_type = response.headers.get("Content-Type", b"").decode("latin-1")
        key = request_key(request.method, response.url, request.body)
        name = _file_name(response.url, content_type, key)
        (folder / name).write_bytes(response.body)
        entry = {
            "url": response.url,
            "method": request.method,
            "file": name,
            "status": response.status,
            "headers": {"Content-Type": content_type} if content_type else {},
            "fetched_at": utc_now(),
            "reconstructed": False,
        }
        if request.body:
            entry["body_sha256"] = hashlib.sha256(request.body).hexdigest()
        index["responses"] = [
            e
            for e in index["responses"]
            if (e["url"], e.get("method", "GET"), e.get("body_sha256"))
            != (entry["url"], entry["method"], entry.get("body_sha256"))
        ] + [entry]
        index_path.write_text(json.dumps(index, indent=2, ensure_ascii=False) + "\n", "utf-8")
        return response
