"""Scrapy settings shared by every spider: polite by default, identical live and offline.

The runner (scrapers/crawl.py) adds the per-run settings: the feed path, and the replay or record
directories.
"""

BOT_NAME = "clusterdata"
SPIDER_MODULES = ["scrapers.spiders"]
NEWSPIDER_MODULE = "scrapers.spiders"

# An identifiable client with a way to reach us.
USER_AGENT = (
    "clusterdata/0.1 (open data on European industrial clusters; +https://github.com/clusterdata)"
)
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 8
CONCURRENT_REQUESTS_PER_DOMAIN = 1
DOWNLOAD_DELAY = 1.0
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 60.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
DOWNLOAD_TIMEOUT = 30
# PDFs get 64 MiB (scrapers.middlewares.SizeLimitMiddleware). The limit also bounds what a gzip
# body may inflate to, so a compression bomb is cut off, not decompressed.
DOWNLOAD_MAXSIZE = 32 * 1024 * 1024
DOWNLOAD_WARNSIZE = 8 * 1024 * 1024
# Scrapy does not check certificates unless asked.
DOWNLOAD_VERIFY_CERTIFICATES = True
REDIRECT_MAX_TIMES = 5
RETRY_ENABLED = True
RETRY_TIMES = 3
# Retries wait base·2^(n-1) (halved, plus jitter up to the other half), or longer when the server
# sends Retry-After; a Retry-After above the cap defers the source instead of hammering it.
CLUSTERDATA_RETRY_BASE_DELAY = 2.0
CLUSTERDATA_RETRY_MAX_DELAY = 60.0
CLUSTERDATA_RETRY_AFTER_CAP = 120.0
TELNETCONSOLE_ENABLED = False
# Scrapy 2.19 opens a remote-control listening port per crawler by default: off, like telnet.
REMOTE_CONTROL_ENABLED = False
EXTENSIONS = {"scrapy.extensions.telnet.TelnetConsole": None}
COOKIES_ENABLED = False
# Conditional requests (scrapers/httpcache.py): a live refresh turns the cache on with a directory
# under the data dir (scrapers/crawl.py --cache-dir); ETag / Last-Modified are revalidated, and a
# 304 is answered from the stored copy.
HTTPCACHE_ENABLED = False
HTTPCACHE_POLICY = "scrapers.httpcache.ConditionalPolicy"
HTTPCACHE_GZIP = True
HTTPCACHE_EXPIRATION_SECS = 0
LOG_LEVEL = "INFO"

DOWNLOADER_MIDDLEWARES = {
    # Scrapy's retry fires at once and ignores Retry-After; ours backs off (same slot, 550).
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "scrapers.middlewares.BackoffRetryMiddleware": 550,
    "scrapers.middlewares.SizeLimitMiddleware": 560,
    # Sees decoded text after decompression and before any spider reads it.
    "scrapers.middlewares.CharsetGuardMiddleware": 570,
    # Nearest the downloader: offline, it answers every request from the recordings, so no
    # request ever reaches the network; live, it does nothing.
    "scrapers.replay.ReplayMiddleware": 990,
    # After decompression (HttpCompressionMiddleware is 590), so recordings are readable files.
    "scrapers.replay.RecordMiddleware": 580,
}

ITEM_PIPELINES = {
    "scrapers.pipelines.StrictItemPipeline": 100,
}

FEED_EXPORT_ENCODING = "utf-8"

# Per-run settings, set by scrapers/crawl.py.
CLUSTERDATA_OFFLINE = False
CLUSTERDATA_RECORDINGS_DIR = ""
CLUSTERDATA_RECORD_DIR = ""
CLUSTERDATA_FILES_DIR = ""
