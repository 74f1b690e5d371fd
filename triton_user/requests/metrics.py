"""--collect-metrics at the I/O edge: Triton's Prometheus endpoint fetched every
--metrics-interval while a level runs, on a greenlet of its own, as perf_analyzer's
MetricsManager queries it on a thread of its own; each answer kept with the time it arrived,
for the sweep's clock to hand each window the scrapes that fell in it (take).

perf_analyzer fails the level, mostly the run, when a scrape fails; here a failed scrape is
counted in its window and said once on stderr, and the sweep goes on. An endpoint that does
not answer at all is refused before any load (check), in perf_analyzer's words."""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable

import gevent

from analysis.server_metrics import (
    Scrape,
    ServerMetrics,
    interval_too_short_warning,
    metrics_http_url,
    missing_metric_warnings,
    parse_scrape,
)
from analysis.settings import SweepSettings

# One scrape's deadline, connection and answer together (as the statistics poll's).
SCRAPE_TIMEOUT_S = 10.0
# The body read at most, against a wrong URL that streams: Triton's text is a few kB a model.
MAX_BODY_BYTES = 64 * 1024 * 1024


class MetricsError(Exception):
    """A scrape failed; the message is one line for the user."""


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class MetricsScraper:
    """Scrapes while a level runs: start() at its first window, take() at each window's end,
    stop() when it ends (the sweep driver calls these; the sweep's end stops it too)."""

    def __init__(
        self,
        url: str,
        interval_ms: int,
        timeout_s: float = SCRAPE_TIMEOUT_S,
        clock: Callable[[], int] = time.monotonic_ns,
        warn: Callable[[str], None] = _stderr,
    ) -> None:
        """`url`: --metrics-url as given (perf_analyzer's words name it so). Raises
        ValueError for a URL that cannot be fetched."""
        self.url = url
        self._http_url = metrics_http_url(url)
        self.interval_ms = interval_ms
        self._timeout_s = timeout_s
        self._clock = clock
        self._warn = warn
        self._scrapes: list[Scrape] = []
        self._failures: list[tuple[int, str]] = []  # (when, why)
        self._greenlet: gevent.Greenlet | None = None
        # perf_analyzer says each of these once a run.
        self._warned_missing = self._warned_slow = self._warned_failed = False

    @classmethod
    def of(cls, settings: SweepSettings) -> MetricsScraper | None:
        """The scraper a sweep's settings ask for (None without --collect-metrics)."""
        if not settings.collect_metrics:
            return None
        return cls(settings.metrics_url, settings.metrics_interval_ms)

    # -- before any load ---------------------------------------------------------------
    def check(self) -> None:
        """One scrape, kept nowhere: the endpoint answers and speaks Prometheus' format.
        Raises MetricsError."""
        text = self._fetch()
        try:
            parse_scrape(text, 0)
        except ValueError as exc:
            raise MetricsError(f"Metrics endpoint {self.url}: {exc}") from None

    # -- while a level runs --------------------------------------------------------------
    def start(self) -> None:
        """Scrape from now, every interval, until stop(); what an earlier level left is
        dropped."""
        self.stop()
        self._scrapes.clear()
        self._failures.clear()
        self._greenlet = gevent.spawn(self._loop)

    def stop(self) -> None:
        greenlet, self._greenlet = self._greenlet, None
        if greenlet is not None:
            greenlet.kill(block=True, timeout=1.0)

    def take(self, start_ns: int, end_ns: int) -> ServerMetrics:
        """The scrapes that arrived in the window (start_ns, end_ns], and the failures; both
        leave the scraper, with any older ones (a level measured again from its start)."""
        scrapes = [s for s in self._scrapes if start_ns < s.at_ns <= end_ns]
        failures = [f for f in self._failures if start_ns < f[0] <= end_ns]
        self._scrapes = [s for s in self._scrapes if s.at_ns > end_ns]
        self._failures = [f for f in self._failures if f[0] > end_ns]
        return ServerMetrics(tuple(scrapes), len(failures), failures[-1][1] if failures else "")

    def sweep_ended(self, result: object) -> None:
        """The sweep's last event (triton_user/sweep/events.py): however it ended, scraping
        ends with it."""
        self.stop()

    def _loop(self) -> None:
        interval_ns = self.interval_ms * 1_000_000
        while True:
            began = self._clock()
            self._scrape_once()
            took = self._clock() - began
            if took > interval_ns and not self._warned_slow:
                self._warned_slow = True
                self._warn(interval_too_short_warning(took // 1_000_000, self.interval_ms))
            gevent.sleep(max(interval_ns - took, 0) / 1e9)

    def _scrape_once(self) -> None:
        try:
            text = self._fetch()
            scrape = parse_scrape(text, self._clock())
        except (MetricsError, ValueError) as exc:
            self._failed(str(exc))
            return
        except Exception as exc:  # a failed scrape is counted, never the end of scraping
            self._failed(f"scrape of {self.url} failed: {type(exc).__name__}: {exc}")
            return
        self._scrapes.append(scrape)
        if not self._warned_missing:
            self._warned_missing = True
            for line in missing_metric_warnings(scrape):
                self._warn(line)

    def _failed(self, why: str) -> None:
        self._failures.append((self._clock(), why))
        if not self._warned_failed:
            self._warned_failed = True
            self._warn(
                f"WARNING: {why}; the sweep goes on, each window counts its failed scrapes "
                "(JSON, console)"
            )

    def _fetch(self) -> str:
        """The endpoint's text within the deadline. Raises MetricsError."""
        try:
            with gevent.Timeout(
                self._timeout_s, MetricsError(f"no answer in {self._timeout_s:g} s")
            ):
                with urllib.request.urlopen(self._http_url, timeout=self._timeout_s) as answer:
                    body = answer.read(MAX_BODY_BYTES)
        except urllib.error.HTTPError as exc:
            raise MetricsError(
                f"Metrics endpoint {self.url} answered HTTP {exc.code} {exc.reason}"
            ) from None
        except MetricsError as exc:
            raise MetricsError(
                f"Unable to connect to Metrics endpoint {self.url} ({exc})"
            ) from None
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise MetricsError(
                f"Unable to connect to Metrics endpoint {self.url} ({_one_line(reason)})"
            ) from None
        return body.decode("utf-8", "replace")


def _one_line(exc: object) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
