"""TritonTab: the Triton tab's side of a Locust process with a web UI (one process, or the
master of workers): the sweep it shows now, the error of the last Start refused, and where
each sweep started from the UI keeps its results.

One per process, as `environment.triton_tab` (`TritonTab.of`); none headless, nor on a
worker."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from locust.env import Environment

from analysis.settings import Outputs, SweepSettings
from triton_user.sweep.locust_sweep import LocustSweep
from triton_user.web.view import SweepView

# A sweep started from the web UI with no result file named: a folder of its own here.
RESULTS_ROOT = "results"
FILE_NAMES = {"csv": "perf.csv", "json": "perf.json", "report": "perf.html"}


class TritonTab:
    def __init__(self, environment: Environment, results_root: str = RESULTS_ROOT) -> None:
        self.environment = environment
        self.results_root = Path(results_root)
        self.runs = 0  # Starts so far, refused ones too: the page starts afresh on each
        self.sweeps = 0  # sweeps started: the tab numbers them
        self.view: SweepView | None = None
        self.error: str | None = None  # the last Start refused, until the next Start
        self._new_folder: Path | None = None  # made for a sweep not yet started

    @classmethod
    def of(cls, environment: Environment) -> TritonTab | None:
        return getattr(environment, "triton_tab", None)

    @classmethod
    def attach(cls, environment: Environment) -> TritonTab:
        tab = cls(environment)
        environment.triton_tab = tab  # type: ignore[attr-defined]
        return tab

    def outputs_for(self, settings: SweepSettings, outputs: Outputs) -> Outputs:
        """A sweep started from the UI always keeps its results: the files named, with the
        report beside the CSV (or JSON); none named, a new folder for this run,
        results/<YYYYmmdd-HHMMSS>-<model>/perf.csv|json|html."""
        if outputs.csv or outputs.json:
            if outputs.report:
                return outputs
            base = Path(outputs.csv or outputs.json)  # type: ignore[arg-type]
            return replace(outputs, report=str(base.with_suffix(".html")))
        stamp = time.strftime("%Y%m%d-%H%M%S")
        model = "".join(c if c.isalnum() or c in "-_." else "_" for c in settings.model)
        folder = self.results_root / f"{stamp}-{model}"
        n = 1
        while folder.exists():  # two starts within a second
            n += 1
            folder = self.results_root / f"{stamp}-{model}-{n}"
        self._new_folder = folder
        paths = {kind: str(folder / name) for kind, name in FILE_NAMES.items()}
        if outputs.report:
            paths["report"] = outputs.report
        return replace(outputs, **paths)

    def watch(self, sweep: LocustSweep) -> None:
        """A new sweep, checked and about to start: the tab shows it from now on."""
        self.runs += 1
        self.sweeps += 1
        self.error = None
        self._new_folder = None
        self.view = SweepView(self.runs, self.sweeps, sweep.settings, sweep.outputs)
        sweep.subscribe(self.view)

    def refused(self, message: str) -> None:
        """A Start refused (bad input, server or model not there): nothing was sent."""
        self.runs += 1
        self.error = message
        self.view = None
        folder, self._new_folder = self._new_folder, None
        if folder is not None:  # the files' check made it: leave no empty folder behind
            try:
                folder.rmdir()
            except OSError:
                pass

    def state(self) -> dict[str, Any]:
        """What the page polls, /triton/state."""
        runner = self.environment.runner
        return {
            "run": self.runs,
            "error": self.error,
            "runner": runner.state if runner is not None else None,
            "results_root": str(self.results_root),
            "sweep": self.view.to_json() if self.view is not None else None,
        }
