"""`triton-locust run PLAN`: each scenario of a plan swept by `triton-locust profile` in a
process of its own, its results file then checked against the plan's SLOs and a baseline,
recorded in the history, pushed to a Pushgateway, and summed up for CI (JUnit, Markdown).

A scenario's sweep is a child process, as vegeta's attack and report are separate
commands over a results file: Locust's and gevent's global state starts fresh for every
scenario, its console output streams as profile prints it, and what it measured is on
disk before anything here reads it. Header values reach the child only through the
environment (header-from-env), never its command line."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType

from analysis.atomic_write import check_writable, write_text
from analysis.baseline import BaselineVerdict, against_baseline
from analysis.checks import BASELINE, SLO, CheckResult
from analysis.exit_codes import (
    EXIT_CHECK_FAILED,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REQUESTS_FAILED,
    EXIT_UNSTABLE,
    RUN_EXIT_MEANINGS,
    worst_exit,
)
from analysis.plan import Plan, Scenario
from analysis.report.html import tool_version
from analysis.report.junit import junit_xml
from analysis.report.load import load_summary
from analysis.report.markdown import markdown_summary
from analysis.report.recommend import recommend
from analysis.report.summary import RunSummary, from_result
from analysis.report.text import baseline_lines, check_lines
from analysis.results import SweepResult
from analysis.run_record import RunRecord, utc_text
from analysis.slo import evaluate
from triton_locust.history import History, HistoryError
from triton_locust.pushgateway import PushError, push_run

LATEST = "latest"
# A scenario's own verdict may turn into 99 only when its sweep ran to its end.
CHECKABLE = (EXIT_OK, EXIT_UNSTABLE, EXIT_REQUESTS_FAILED)
SCENARIO_CODES = (*CHECKABLE, EXIT_ERROR, EXIT_INTERRUPTED)


@dataclass(frozen=True)
class RunOptions:
    results_dir: Path
    baseline: str | None = None  # LATEST, a results file, or None
    max_regression: float = 0.10
    pushgateway: str | None = None
    junit: str | None = None
    markdown: str | None = None


@dataclass
class ScenarioRun:
    scenario: Scenario
    exit_code: int
    record: RunRecord | None = None  # None: the sweep wrote no results (nothing was sent)
    baseline: BaselineVerdict | None = None
    problems: list[str] = field(default_factory=list)  # one line each, for the console


class PlanRun:
    """One `triton-locust run`: the plan, checked, its history opened, its baseline read,
    before any scenario sends a request."""

    def __init__(self, plan: Plan, history: History, options: RunOptions) -> None:
        self.plan, self.history, self.options = plan, history, options
        self.batch = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        self.baseline_file = self._baseline_file()
        self.folder = _new_folder(options.results_dir / "runs", self.batch)
        self._child: subprocess.Popen[bytes] | None = None
        self._stopped = False

    def _baseline_file(self) -> RunSummary | None:
        """A --baseline FILE, read now: a bad one is bad input, said before any load."""
        if self.options.baseline in (None, LATEST):
            return None
        path = str(self.options.baseline)
        try:
            summary = load_summary(path)
        except FileNotFoundError as exc:
            raise ValueError(f"--baseline {path}: no such file") from exc
        except (OSError, ValueError) as exc:
            raise ValueError(f"--baseline {path}: {exc}") from exc
        if len(self.plan.scenarios) > 1 and not any(
            s.settings.model == summary.model for s in self.plan.scenarios
        ):
            raise ValueError(
                f"--baseline {path}: measured model {summary.model or '(a CSV names none)'!r}, "
                "which no scenario of the plan sweeps"
            )
        return summary

    # -- the run ---------------------------------------------------------------------
    def run(self) -> int:
        runs: list[ScenarioRun] = []
        # Until the last file is written: a signal then only means "start nothing more".
        with self._signals_forwarded():
            for i, scenario in enumerate(self.plan.scenarios, start=1):
                if self._stopped:
                    break
                print(_banner(scenario, i, len(self.plan.scenarios)), flush=True)
                runs.append(self._scenario(scenario))
            skipped = self.plan.scenarios[len(runs) :]
            failed_outputs = self._ci_files(runs)
            codes = [r.exit_code for r in runs] + ([EXIT_INTERRUPTED] if skipped else [])
            code = worst_exit(codes + ([EXIT_ERROR] if failed_outputs else []))
            print(_closing(runs, skipped, code), flush=True)
        return code

    def _scenario(self, scenario: Scenario) -> ScenarioRun:
        json_path = self.folder / f"{scenario.name}.json"
        code = self._sweep(scenario, json_path)
        run = ScenarioRun(scenario, code)
        if not json_path.exists():  # stopped before it measured: there is nothing to check
            return run
        try:
            result = SweepResult.load(json_path)
        except (OSError, ValueError, KeyError) as exc:
            run.problems.append(f"{json_path}: unreadable results ({exc})")
            run.exit_code = EXIT_ERROR
            return run
        summary = from_result(result, str(json_path))
        recommendation = recommend(summary, scenario.outputs.latency_budget_ms)
        checks = [evaluate(slo, result, recommendation) for slo in scenario.slos]
        run.baseline, note = self._against_baseline(scenario, summary)
        if run.baseline is not None:
            checks += run.baseline.checks()
        if code in CHECKABLE and not all(c.passed for c in checks):
            run.exit_code = EXIT_CHECK_FAILED
        run.record = RunRecord(
            scenario=scenario.name,
            started_at=utc_text(result.started_at or self.batch),
            exit_code=run.exit_code,
            result=result.to_dict(),
            checks=checks,
            plan_path=self.plan.path,
            plan_text=self.plan.text,
            model_config=result.model_config,
            tool_version=tool_version(),
            batch=self.batch,
        )
        self._print_checks(checks, run.baseline, note)
        self._keep(run)
        return run

    def _sweep(self, scenario: Scenario, json_path: Path) -> int:
        """`triton-locust profile` for one scenario; its exit code."""
        argv = list(scenario.argv)
        if scenario.outputs.json is None:
            argv.append(f"--json={json_path}")
        if scenario.outputs.csv is None:
            argv.append(f"--filename={json_path.with_suffix('.csv')}")
        chosen = Path(scenario.outputs.json) if scenario.outputs.json else None
        if chosen is not None:
            # Last night's file there must not pass for tonight's if this sweep writes none.
            chosen.unlink(missing_ok=True)
        command = [sys.executable, "-m", "triton_locust.cli", "profile", *argv]
        try:
            # Its own process group: a Ctrl-C reaches it once, from us, and we wait for
            # the results it writes as it stops.
            self._child = subprocess.Popen(command, start_new_session=True)
        except OSError as exc:
            print(f"triton-locust run: cannot start the sweep: {exc}", file=sys.stderr)
            return EXIT_ERROR
        if self._stopped:  # a signal that came while it started
            self._child.send_signal(signal.SIGINT)
        code = self._child.wait()
        self._child = None
        if chosen is not None and chosen != json_path and chosen.exists():
            # The plan chose where the results go; the run's folder keeps a copy.
            try:
                json_path.write_bytes(chosen.read_bytes())
            except OSError as exc:
                print(f"triton-locust run: cannot copy {chosen}: {exc}", file=sys.stderr)
                return EXIT_ERROR
        # The plan was accepted: a scenario that could not start (its server unreachable,
        # its model missing) is an error of this run, not bad input; a sweep killed by a
        # signal (negative) is one too.
        return code if code in SCENARIO_CODES else EXIT_ERROR

    def _against_baseline(
        self, scenario: Scenario, summary: RunSummary
    ) -> tuple[BaselineVerdict | None, str]:
        if self.options.baseline is None:
            return None, ""
        if self.baseline_file is not None:
            base = self.baseline_file
            if len(self.plan.scenarios) > 1 and base.model != scenario.settings.model:
                return None, f"baseline {base.source} measured another model: not compared"
            name = base.source
        else:
            try:
                earlier = _latest_good(self.history.runs(scenario.name))
            except HistoryError as exc:
                return None, f"no baseline: {exc}"
            if earlier is None:
                return None, (
                    f"no earlier finished run of {scenario.name!r} in the history: "
                    "nothing to compare yet"
                )
            base = from_result(earlier.sweep(), f"history run {earlier.id}")
            name = f"history run {earlier.id} ({earlier.started_at})"
        verdict = against_baseline(base, summary, self.options.max_regression, name)
        return verdict, ""

    @staticmethod
    def _print_checks(
        checks: list[CheckResult], baseline: BaselineVerdict | None, note: str
    ) -> None:
        slo_checks = [c for c in checks if c.kind == SLO]
        if slo_checks:
            print("SLOs:")
            print("\n".join(check_lines(slo_checks)))
        if baseline is not None:
            print("\n".join(baseline_lines(baseline)))
        if note:
            print(f"Baseline: {note}")
        sys.stdout.flush()

    def _keep(self, run: ScenarioRun) -> None:
        """History and Pushgateway: a failure is said and ends the run with 3, but never
        loses the results file or stops the next scenario."""
        assert run.record is not None
        try:
            self.history.add(run.record)
        except HistoryError as exc:
            run.problems.append(str(exc))
        if self.options.pushgateway:
            try:
                push_run(self.options.pushgateway, run.record)
            except PushError as exc:
                run.problems.append(str(exc))
        for problem in run.problems:
            print(f"triton-locust run: {problem}", file=sys.stderr)
        if run.problems:
            run.exit_code = worst_exit([run.exit_code, EXIT_ERROR])

    def _ci_files(self, runs: list[ScenarioRun]) -> bool:
        """JUnit XML and the Markdown summary; True when one could not be written."""
        records = [r.record or _unmeasured(r, self.batch, self.plan) for r in runs]
        failed = False
        outputs = (
            (self.options.junit, lambda: junit_xml(records)),
            (
                self.options.markdown,
                lambda: markdown_summary(
                    [(rec, run.baseline) for rec, run in zip(records, runs, strict=True)],
                    title=f"triton-locust run {Path(self.plan.path).name}",
                ),
            ),
        )
        for path, render in outputs:
            if not path:
                continue
            try:
                write_text(path, render())
                print(f"Wrote {path}")
            except OSError as exc:
                print(
                    f"triton-locust run: cannot write {path}: {exc.strerror or exc}",
                    file=sys.stderr,
                )
                failed = True
        return failed

    # -- signals ---------------------------------------------------------------------
    @contextmanager
    def _signals_forwarded(self) -> Iterator[None]:
        """Ctrl-C or SIGTERM (a CronJob's pod ending): the sweep under way stops and keeps
        what it measured, that much is checked and recorded, later scenarios do not start."""

        def stop(signum: int, frame: FrameType | None) -> None:
            self._stopped = True
            child = self._child
            if child is not None and child.poll() is None:
                child.send_signal(signal.SIGINT)

        wanted = (signal.SIGINT, signal.SIGTERM)
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {s: signal.signal(s, stop) for s in wanted}
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


def _latest_good(records: list[RunRecord]) -> RunRecord | None:
    """The baseline `latest` means: the newest finished run that was not itself worse than
    its own baseline, so that a regression never becomes the yardstick of the next night."""
    good = [
        r for r in records if r.finished and all(c.passed for c in r.checks if c.kind == BASELINE)
    ]
    return good[-1] if good else None


def _new_folder(parent: Path, name: str) -> Path:
    """A folder of this run's own (two runs in one second get two), made now: an unwritable
    --results-dir is bad input, said before any load. Raises ValueError."""
    for n in range(1000):
        folder = parent / (name if n == 0 else f"{name}-{n}")
        try:
            folder.mkdir(parents=True, exist_ok=False)
            check_writable(folder / ".check")
            return folder
        except FileExistsError:
            continue
        except OSError as exc:
            raise ValueError(
                f"--results-dir: cannot write in {parent}: {exc.strerror or exc}"
            ) from exc
    raise ValueError(f"--results-dir: {parent} holds too many runs named {name}")


def _unmeasured(run: ScenarioRun, batch: str, plan: Plan) -> RunRecord:
    """A scenario that wrote no results (its server unreachable, say): JUnit shows it."""
    meaning = dict(RUN_EXIT_MEANINGS).get(run.exit_code, "ended")
    result = SweepResult(run.scenario.settings, stop_reason=f"error: {meaning}", started_at=batch)
    return RunRecord(
        scenario=run.scenario.name,
        started_at=batch,
        exit_code=run.exit_code,
        result=result.to_dict(),
        plan_path=plan.path,
        plan_text=plan.text,
        batch=batch,
    )


def _banner(scenario: Scenario, i: int, n: int) -> str:
    s = scenario.settings
    if s.rate.intervals_file:
        load = f"request intervals {s.rate.intervals_file}"
    elif s.rate_mode:
        load = f"request rate {s.rate.start:g}:{s.rate.end:g}:{s.rate.step:g}"
    else:
        load = f"concurrency {s.concurrency_start}:{s.concurrency_end}:{s.concurrency_step}"
    return (
        f"\n=== Scenario {i} of {n}: {scenario.name} — {s.model} at {s.url} over {s.protocol}, "
        f"{load} ==="
    )


def _closing(runs: list[ScenarioRun], skipped: list[Scenario], code: int) -> str:
    checks = [c for r in runs if r.record for c in r.record.checks]
    failed = sum(not c.passed for c in checks)
    not_started = f", {len(skipped)} not started" if skipped else ""
    return (
        f"\ntriton-locust run: {len(runs)} scenario(s){not_started}, {len(checks)} check(s), "
        f"{failed} failed; exit {code} ({dict(RUN_EXIT_MEANINGS).get(code, 'an error')})"
    )
