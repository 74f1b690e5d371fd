"""The exit status of a finished sweep, for `triton-locust profile` and `locust -f` alike."""

from __future__ import annotations

from analysis.results import SweepResult
from analysis.stabiliser import Verdict

# Like perf_analyzer, non-zero when a level could not be measured stably (1), and when the
# sweep or its files failed (3); 130 when stopped (Ctrl-C, SIGTERM, the web UI's Stop). The
# CLI's 2 is bad input, found before any load. 4: requests failed (errors, timeouts) in a
# sweep that otherwise ended; it outranks 1, since its figures leave failures out.
EXIT_OK, EXIT_UNSTABLE, EXIT_BAD_INPUT, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_REQUESTS_FAILED = 4

# What each code means, in words: for --help and the closing line alike.
EXIT_MEANINGS = (
    (EXIT_OK, "every level stable"),
    (EXIT_UNSTABLE, "a level did not stabilise (reported, flagged)"),
    (EXIT_BAD_INPUT, "bad input (nothing sent)"),
    (EXIT_ERROR, "an error, or a file not written (what was measured is kept)"),
    (EXIT_REQUESTS_FAILED, "requests failed (errors or timeouts)"),
    (EXIT_INTERRUPTED, "interrupted"),
)


def failed_requests(result: SweepResult) -> int:
    """Requests that failed in any window of any level, interrupted ones too."""
    return sum(w.error_count for level in result.levels for w in level.windows)


def exit_code(result: SweepResult, files_failed: bool = False) -> int:
    """The process's exit status for a finished sweep."""
    if result.stop_reason == "interrupted":
        return EXIT_INTERRUPTED
    if result.stop_reason.startswith("error") or files_failed:
        return EXIT_ERROR
    if failed_requests(result):
        return EXIT_REQUESTS_FAILED
    if any(level.verdict is Verdict.UNSTABLE for level in result.levels):
        return EXIT_UNSTABLE
    return EXIT_OK
