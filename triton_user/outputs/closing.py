"""The end of a sweep in words: the files it wrote, and what its exit code means when that
is not 0. Heard after the result files (it names what they wrote)."""

from __future__ import annotations

import sys
from typing import TextIO

from analysis import console
from analysis.exit_codes import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_REQUESTS_FAILED,
    EXIT_UNSTABLE,
    exit_code,
    failed_requests,
)
from analysis.results import LevelResult, SweepResult
from analysis.stabiliser import Verdict
from triton_user.outputs.result_files import ResultFiles
from triton_user.wire.timing import ErrorLog


def exit_reason(result: SweepResult, failed: list[str] | tuple[str, ...] = ()) -> str | None:
    """What a non-zero exit code means for this sweep, in one line; None for 0."""
    code = exit_code(result, bool(failed))
    if code == EXIT_INTERRUPTED:
        last = result.levels[-1] if result.levels else None
        where = (
            f" during {_load(result)} {_level(last)}"
            if last is not None and last.verdict is Verdict.INTERRUPTED
            else ""
        )
        return f"exit code {code}: interrupted{where}; the results cover {finished_levels(result)}"
    if code == EXIT_ERROR:
        reasons = []
        if result.stop_reason.startswith("error"):
            reasons.append(f"the sweep stopped on an {result.stop_reason}")
        if failed:
            reasons.append(f"could not write {', '.join(failed)}")
        return f"exit code {code}: {'; '.join(reasons)}"
    if code == EXIT_REQUESTS_FAILED:
        hit = [lvl for lvl in result.levels if any(w.error_count for w in lvl.windows)]
        where = ", ".join(_level(lvl) for lvl in hit)
        n = failed_requests(result)
        first = f"; first error: {ErrorLog.first}" if ErrorLog.first else ""
        return (
            f"exit code {code}: {n} request{'' if n == 1 else 's'} failed "
            f"({_load(result)} {where}); the figures count only those that succeeded{first}"
        )
    if code == EXIT_UNSTABLE:
        settings = result.settings
        unstable = [lvl for lvl in result.levels if lvl.verdict is Verdict.UNSTABLE]
        names = [_level(lvl) for lvl in unstable]
        which = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        if len(unstable) == 1:
            why = console.unstable_reason(unstable[0], settings)
        else:
            why = "; ".join(
                f"{_level(lvl)}: {console.unstable_reason(lvl, settings)}" for lvl in unstable
            )
        return (
            f"exit code {code}: {_load(result)} {which} did not stabilise within "
            f"{settings.max_trials} windows ({why}); reported, flagged unstable"
        )
    return None


def _load(result: SweepResult) -> str:
    return "request rate" if result.settings.rate_mode else "concurrency"


def _level(level: LevelResult) -> str:
    """A level as the console names it: its concurrency, or its request rate."""
    return str(level.concurrency) if level.request_rate is None else f"{level.request_rate:g}"


def finished_levels(result: SweepResult) -> str:
    n = len(result.reported_levels)
    return f"the {n} finished level" + ("" if n == 1 else "s")


class ClosingOutput:
    def __init__(self, out: TextIO, files: ResultFiles, err: TextIO | None = None) -> None:
        self.out = out
        self.files = files
        self._err = err

    def sweep_started(self, settings: object) -> None:
        ErrorLog.clear()

    def sweep_ended(self, result: SweepResult) -> None:
        if self.files.written:
            print("\n" + "\n".join(written_lines(self.files)), file=self.out, flush=True)
        reason = exit_reason(result, self.files.failed)
        if reason:
            # Diagnostics go to stderr, as perf_analyzer's do: seen even with stdout piped.
            print(f"triton-locust: {reason}", file=self._err or sys.stderr, flush=True)


def written_lines(files: ResultFiles) -> list[str]:
    """Each file the sweep wrote, and what it holds."""
    o = files.outputs
    what = {
        o.csv: "perf_analyzer's CSV",
        o.json: "every level and window in full (JSON)",
        o.report: "the report: open it in a browser",
        o.profile_export: "perf_analyzer's profile export: every request's timestamps",
    }
    width = max(len(p) for p in files.written)
    return ["Results:"] + [f"  {p:<{width}}  {what.get(p, '')}".rstrip() for p in files.written]
