"""perf_analyzer's profile export (--profile-export-file), rewritten after every level so
that a sweep that dies keeps what it measured.

The recorder hands this listener each window's successful requests as it cuts them
(`request_log`, given to it by the sweep: Recorder.keep_requests); at the end of a level
the listener takes that level's windows, moves them onto the epoch by one offset taken at
the start of the sweep, and writes the whole file (analysis/profile_export.py)."""

from __future__ import annotations

import sys
import time

from analysis.profile_export import (
    CONCURRENCY,
    REQUEST_RATE,
    ProfileExport,
    RequestLog,
    write_profile_export,
)
from analysis.results import LevelResult, SweepResult
from analysis.settings import SweepSettings
from triton_user.outputs.result_files import ResultFiles, reason

# A Locust worker's windows are cut on its own clock and shipped as histograms: the export's
# one timeline would need every worker's requests on the master's clock.
DISTRIBUTED_EXPORT = (
    "--profile-export-file with Locust workers (--processes, --master): not yet; the export "
    "needs every request on one clock. Run it in one process"
)


class ProfileExportOutput:
    def __init__(self, path: str, files: ResultFiles) -> None:
        self.path = path
        self.files = files  # where the closing words and the exit code learn how it went
        self.request_log = RequestLog()
        self._export = ProfileExport()
        self._mode = CONCURRENCY
        self._offset_ns = 0
        self._wrote = False  # the file on disk holds every level finished so far
        self._error: str | None = None  # what keeps the file from being whole

    def sweep_started(self, settings: SweepSettings) -> None:
        self._mode = REQUEST_RATE if settings.rate_mode else CONCURRENCY
        # perf_analyzer's timestamps are system_clock's ns since the epoch; ours are the
        # monotonic clock's, moved by this one offset (a clock step mid-run bends nothing).
        self._offset_ns = time.time_ns() - time.monotonic_ns()

    def level_finished(self, level: LevelResult, result: SweepResult) -> None:
        value = level.request_rate if level.request_rate is not None else level.concurrency
        try:
            windows = [
                (w.start_ns, w.end_ns, *self.request_log.take(w.start_ns, w.end_ns))
                for w in level.windows
            ]
        except LookupError as exc:  # never a file short of a window: none at all, said
            self._fail(str(exc))
        else:
            self._export.add_level(self._mode, value, windows, self._offset_ns)
        finally:
            self.request_log.clear()  # the windows of a level measured again from scratch
        self._wrote = self._write()

    def sweep_ended(self, result: SweepResult) -> None:
        # Written after the last level already, unless that failed or no level finished.
        if self._wrote or self._write():
            self.files.written.append(self.path)
        else:
            self.files.failed.append(self.path)

    def _write(self) -> bool:
        if self._error is not None:
            return False
        try:
            write_profile_export(self._export, self.path)
        except Exception as exc:  # as the other result files: said, and exit code 3 at the end
            print(f"triton-locust: cannot write {self.path}: {reason(exc)}", file=sys.stderr)
            return False
        return True

    def _fail(self, why: str) -> None:
        self._error = why
        print(f"triton-locust: cannot write {self.path}: {why}", file=sys.stderr)
