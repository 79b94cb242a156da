"""`clusterdata extract FILE_OR_URL`: the records any page holds, as JSON Lines on stdout.

A file is read as is. A URL is fetched the way the spiders fetch: through Scrapy with the
project's settings (politeness, robots.txt, retries) and its replay layer, in a subprocess
(Twisted's reactor cannot restart inside one process), exactly as `clusterdata crawl` runs
spiders. With `--offline --recordings DIR` the URL is answered from a recording and nothing
touches the network; DIR is either one recording folder (it holds index.json) or a folder of
them (tests/fixtures), searched for the URL.

The subprocess is `python -m pipelines.extract_cli URL --out DIR [...]`: it writes the body and
a meta.json (final URL, status, Content-Type) into DIR and exits 0, or prints one error line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from scrapers.extract.document import KINDS, extract_document
from scrapers.extract.errors import UnreadableDocument

FETCH_SPIDER = "extract_fetch"
META_NAME = "meta.json"
BODY_NAME = "body"


def _recording_folder(recordings: Path, url: str) -> Path | None:
    """The recording folder under `recordings` whose index.json has `url` (or DIR itself)."""
    folders = [recordings] if (recordings / "index.json").is_file() else sorted(
        p for p in recordings.iterdir() if (p / "index.json").is_file()
    )
    for folder in folders:
        try:
            index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if any(r.get("url") == url for r in index.get("responses", [])):
            return folder
    return None


def _fetch_main(argv: list[str]) -> int:
    """Subprocess side: fetch one URL with the project's Scrapy settings into --out."""
    import scrapy
    from scrapy.crawler import CrawlerProcess

    from scrapers.crawl import crawl_settings

    parser = argparse.ArgumentParser(prog="python -m pipelines.extract_cli")
    parser.add_argument("url")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--offline", action="store_true")
    parser.add_argument("--recordings", type=Path)
    args = parser.parse_args(argv)
    name = FETCH_SPIDER
    recordings_root = None
    if args.offline:
        folder = _recording_folder(args.recordings, args.url) if args.recordings else None
        if folder is None:
            print(f"error: offline: no recording for {args.url} in {args.recordings}",
                  file=sys.stderr)
            return 1
        name, recordings_root = folder.name, folder.parent
    out: Path = args.out

    class FetchSpider(scrapy.Spider):
        """Fetches one URL and keeps its body, whatever the status."""

        custom_settings = {"HTTPERROR_ALLOW_ALL": True}

        async def start(self) -> Any:
            yield scrapy.Request(args.url, callback=self.parse, dont_filter=True)

        def parse(self, response: Any) -> Iterator[dict[str, Any]]:
            (out / BODY_NAME).write_bytes(response.body)
            content_type = response.headers.get("Content-Type")
            meta = {
                "url": response.url,
                "status": response.status,
                "content_type": content_type.decode("latin-1") if content_type else None,
            }
            (out / META_NAME).write_text(json.dumps(meta), encoding="utf-8")
            yield meta

    FetchSpider.name = name
    out.mkdir(parents=True, exist_ok=True)
    settings = crawl_settings(
        out / "items.jsonl", args.offline, recordings_root, None, out / "fetch.log"
    )
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(FetchSpider)
    process.crawl(crawler)
    process.start()
    if not (out / META_NAME).is_file():
        stats = crawler.stats.get_stats()
        reason = stats.get("clusterdata/unrecorded_first") or stats.get("finish_reason")
        print(f"error: could not fetch {args.url} ({reason}; log: {out / 'fetch.log'})",
              file=sys.stderr)
        return 1
    return 0


def fetch(url: str, offline: bool, recordings: Path | None, workdir: Path) -> tuple[bytes, dict]:
    """Body and meta of a URL, fetched in a subprocess; click.ClickException on failure."""
    cmd = [sys.executable, "-m", "pipelines.extract_cli", url, "--out", str(workdir)]
    if offline:
        cmd += ["--offline", "--recordings", str(recordings)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        reason = lines[-1].removeprefix("error: ") if lines else f"exit {proc.returncode}"
        raise click.ClickException(reason)
    meta = json.loads((workdir / META_NAME).read_text(encoding="utf-8"))
    if not 200 <= int(meta["status"]) < 300:
        raise click.ClickException(f"{url} answered HTTP {meta['status']}")
    return (workdir / BODY_NAME).read_bytes(), meta


@click.command("extract")
@click.argument("source", metavar="FILE_OR_URL")
@click.option(
    "--kind",
    type=click.Choice(["auto", *KINDS]),
    default="auto",
    show_default=True,
    help="Kind of page; auto decides from its words and layout.",
)
@click.option(
    "--lang",
    default="auto",
    show_default=True,
    help="ISO 639-1 language of the page; auto detects it from the text.",
)
@click.option("--offline", is_flag=True, help="Answer a URL from recordings, never the network.")
@click.option(
    "--recordings",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Recording folder(s) for --offline (default: tests/fixtures).",
)
def extract_command(
    source: str, kind: str, lang: str, offline: bool, recordings: Path | None
) -> None:
    """Print the records a page (HTML or PDF, file or URL) holds, one JSON object per line."""
    if lang != "auto" and not (len(lang) == 2 and lang.isalpha() and lang.islower()):
        raise click.ClickException(f"--lang must be auto or an ISO 639-1 code, not {lang!r}")
    is_url = source.startswith(("http://", "https://"))
    if is_url:
        if offline:
            recordings = recordings or Path(__file__).resolve().parents[1] / "tests" / "fixtures"
            if not recordings.is_dir():
                raise click.ClickException(f"recordings directory {recordings} does not exist")
        with tempfile.TemporaryDirectory(prefix="clusterdata-extract-") as tmp:
            body, meta = fetch(source, offline, recordings, Path(tmp))
        url, content_type = meta["url"], meta.get("content_type")
    else:
        path = Path(source)
        if not path.is_file():
            raise click.ClickException(f"no such file: {source}")
        body, url, content_type = path.read_bytes(), None, None
    try:
        records = extract_document(body, url=url, content_type=content_type, kind=kind, lang=lang)
    except UnreadableDocument as error:
        raise click.ClickException(f"unreadable document {source}: {error.reason}") from error
    for record in records:
        click.echo(json.dumps(record, ensure_ascii=False))


if __name__ == "__main__":
    sys.exit(_fetch_main(sys.argv[1:]))
