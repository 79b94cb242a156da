"""Downloader middlewares that keep live crawls polite and their text honest.

Stock Scrapy retries a 429 three times within a fraction of a second and ignores `Retry-After`,
and decodes a page whose header names the wrong charset into `M�hlheim` without a word. These
replace that behaviour: retries back off exponentially with jitter and wait what the server asks
(up to a cap; above it the source is *deferred*, not reported empty), and text that decodes with
U+FFFD is re-decoded from the charset the page itself declares or sniffs, or kept out of the crawl.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import random

import charset_normalizer
from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.settings import BaseSettings
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from scrapy.utils.response import response_status_message
from twisted.internet import task
from w3lib.encoding import html_body_declared_encoding

logger = logging.getLogger(__name__)

DEFERRED_STAT = "clusterdata/deferred"
QUARANTINED_STAT = "clusterdata/quarantined_pages"
QUARANTINED_LIST_STAT = "clusterdata/quarantined"
REPLACEMENT = "\ufffd"
PDF_MAXSIZE = 64 * 1024 * 1024


def retry_after_seconds(value: bytes | str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds a `Retry-After` header asks for (delta-seconds or an HTTP date), or None."""
    if value is None:
        return None
    text = (value.decode("latin-1") if isinstance(value, bytes) else value).strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        when = when.replace(tzinfo=dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - now).total_seconds())


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retries, spaced by exponential backoff with jitter and by `Retry-After`."""

    def __init__(self, settings: BaseSettings):
        super().__init__(settings)
        self.base_delay = settings.getfloat("CLUSTERDATA_RETRY_BASE_DELAY", 1.0)
        self.max_delay = settings.getfloat("CLUSTERDATA_RETRY_MAX_DELAY", 60.0)
        # Above this a server is asking us to come back another day: defer the source.
        self.retry_after_cap = settings.getfloat("CLUSTERDATA_RETRY_AFTER_CAP", 120.0)
        self.rng = random.Random(settings.get("CLUSTERDATA_RETRY_SEED"))

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackoffRetryMiddleware:
        mw = cls(crawler.settings)
        mw.crawler = crawler
        return mw

    def backoff(self, attempt: int) -> float:
        """Wait before retry number `attempt` (1-based): 'equal jitter' over an exponential
        ceiling, so retries of many requests spread out but never come sooner than half of it."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    async def _wait(self, seconds: float) -> None:
        from twisted.internet import reactor

        await maybe_deferred_to_future(task.deferLater(reactor, seconds, lambda: None))

    async def _spaced(self, retry: Request | None, retry_after: float | None) -> Request | None:
        if retry is None:
            return None
        delay = max(retry_after or 0.0, self.backoff(retry.meta.get("retry_times", 1)))
        self.crawler.stats.inc_value("clusterdata/retry_wait_s", round(delay, 3))
        await self._wait(delay)
        return retry

    async def process_response(  # type: ignore[override]
        self, request: Request, response: Response, spider: object = None
    ) -> Request | Response:
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        if retry_after is not None and retry_after > self.retry_after_cap:
            reason = (
                f"{request.url} answered {response.status} with Retry-After {retry_after:.0f} s "
                f"(cap {self.retry_after_cap:.0f} s)"
            )
            self.crawler.stats.set_value(DEFERRED_STAT, reason)
            logger.warning("deferring the source: %s", reason)
            # Not awaited: closing waits for in-flight requests, this one included.
            deferred_from_coro(self.crawler.engine.close_spider_async(reason="deferred"))
            raise IgnoreRequest(reason)
        retry = self._retry(request, response_status_message(response.status))
        return await self._spaced(retry, retry_after) or response

    async def process_exception(  # type: ignore[override]
        self, request: Request, exception: Exception, spider: object = None
    ) -> Request | Response | None:
        if request.meta.get("dont_retry", False) or not isinstance(
            exception, self.exceptions_to_retry
        ):
            return None
        return await self._spaced(self._retry(request, exception), None)


class SizeLimitMiddleware:
    """PDFs may be larger than pages: 64 MiB for a PDF URL, DOWNLOAD_MAXSIZE for the rest."""

    def process_request(self, request: Request, spider: object = None) -> None:
        if request.url.lower().split("?", 1)[0].endswith(".pdf"):
            request.meta.setdefault("download_maxsize", PDF_MAXSIZE)


class CharsetGuardMiddleware:
    """Never let U+FFFD from a wrong charset through: re-decode from the charset the page
    declares in its markup, or sniff it; if the text still breaks, keep the page out of the
    crawl (counted and listed in the stats) rather than store damaged text."""

    def __init__(self, crawler: Crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CharsetGuardMiddleware:
        return cls(crawler)

    @staticmethod
    def _candidates(body: bytes) -> list[str]:
        declared = html_body_declared_encoding(body)
        sniffed = charset_normalizer.from_bytes(body[:200_000]).best()
        out = [declared] if declared else []
        if sniffed is not None:
            out.append(sniffed.encoding)
        return out

    def process_response(
        self, request: Request, response: Response, spider: object = None
    ) -> Response:
        if not isinstance(response, TextResponse) or REPLACEMENT not in response.text:
            return response
        for encoding in self._candidates(response.body):
            try:
                text = response.body.decode(encoding)  # strict: a wrong guess raises
            except (LookupError, UnicodeDecodeError):
                continue
            if REPLACEMENT not in text:
                logger.warning(
                    "%s: declared charset %s gave U+FFFD; re-decoded as %s",
                    response.url,
                    response.encoding,
                    encoding,
                )
                self.crawler.stats.inc_value("clusterdata/redecoded_pages")
                return response.replace(encoding=encoding)
        reason = f"{response.url}: text still holds U+FFFD under every charset tried"
        self.crawler.stats.inc_value(QUARANTINED_STAT)
        listed = self.crawler.stats.get_value(QUARANTINED_LIST_STAT) or []
        self.crawler.stats.set_value(QUARANTINED_LIST_STAT, [*listed, reason])
        logger.warning("page kept out: %s", reason)
        raise IgnoreRequest(reason)
