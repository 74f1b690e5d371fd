"""The result files: perf_analyzer's CSV and our JSON, rewritten after every level so that a
sweep that dies keeps what it measured; the HTML report once the sweep ends."""

from __future__ import annotations

import sys
from collections.abc import Callable

from analysis.atomic_write import check_writable
from analysis.csv_writer import write_csv
from analysis.json_writer import write_json
from analysis.report.html import write_report
from analysis.results import LevelResult, SweepResult
from analysis.settings import Outputs


class ResultFiles:
    def __init__(self, outputs: Outputs) -> None:
        self.outputs = outputs
        self.failed: list[str] = []  # files the end of the sweep could not write
        self.written: list[str] = []  # and those it wrote, for the closing lines to name

    def check(self) -> None:
        """Before any load: every path can be written. Raises OSError naming the path."""
        for path in self.outputs.paths():
            try:
                check_writable(path)
            except OSError as exc:
                raise OSError(f"cannot write {path}: {reason(exc)}") from exc

    def level_finished(self, level: LevelResult, result: SweepResult) -> None:
        self._write(result, final=False)

    def sweep_ended(self, result: SweepResult) -> None:
        self.failed = self._write(result, final=True)

    def _write(self, result: SweepResult, final: bool) -> list[str]:
        """A file that cannot be written is said, not fatal to the others. Returns the
        paths that failed."""
        o = self.outputs
        targets: list[tuple[str | None, Callable[[], None]]] = [
            (o.csv, lambda: write_csv(result, o.csv, o.verbose_csv)),  # type: ignore[arg-type]
            (o.json, lambda: write_json(result, o.json)),  # type: ignore[arg-type]
        ]
        if final and result.reported_levels:
            targets.append(
                (
                    o.report,
                    lambda: write_report(
                        result,
                        o.report,  # type: ignore[arg-type]
                        latency_budget_ms=o.latency_budget_ms,
                    ),
                )
            )
        failed = []
        for path, write in targets:
            if not path:
                continue
            try:
                write()
            except Exception as exc:  # one file failing must not cost the others
                print(f"triton-locust: cannot write {path}: {reason(exc)}", file=sys.stderr)
                failed.append(path)
            else:
                if final:
                    self.written.append(path)
        return failed


def reason(exc: Exception) -> str:
    return str(getattr(exc, "strerror", None) or exc)
