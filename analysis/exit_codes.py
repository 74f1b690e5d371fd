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
# `triton-locust run`: a check failed (an SLO of the plan, or a level worse than the
# baseline). 99, as k6 exits when a threshold fails; it outranks 4 and 1, which a plan can
# turn into checks of their own (`errors == 0`, `unstable_levels == 0`).
EXIT_CHECK_FAILED = 99

# What each code means, in words: for --help and the closing line alike.
EXIT_MEANINGS = (
    (EXIT_OK, "every level stable"),
    (EXIT_UNSTABLE, "a level did not stabilise (reported, flagged)"),
    (EXIT_BAD_INPUT, "bad input (nothing sent)"),
    (EXIT_ERROR, "an error, or a file not written (what was measured is kept)"),
    (EXIT_REQUESTS_FAILED, "requests failed (errors or timeouts)"),
    (EXIT_INTERRUPTED, "interrupted"),
)


# What `triton-locust run` says of itself: the same codes, and 99.
RUN_EXIT_MEANINGS = EXIT_MEANINGS[:-1] + (
    (EXIT_CHECK_FAILED, "a check failed (an SLO, or a level worse than the baseline)"),
    EXIT_MEANINGS[-1],
)
# Which code a run of several scenarios exits with: the first of these any scenario had.
RUN_PRECEDENCE = (
    EXIT_INTERRUPTED,
    EXIT_ERROR,
    EXIT_BAD_INPUT,
    EXIT_CHECK_FAILED,
    EXIT_REQUESTS_FAILED,
    EXIT_UNSTABLE,
    EXIT_OK,
)


def worst_exit(codes: list[int]) -> int:
    """The exit code of a run whose scenarios ended with `codes` (0 for none)."""
    rank = {code: i for i, code in enumerate(RUN_PRECEDENCE)}
    return min(codes, key=lambda c: rank.get(c, rank[EXIT_ERROR]), default=EXIT_OK)


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
