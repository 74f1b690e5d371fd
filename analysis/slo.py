"""SLOs as users write them in a plan, and their check against a finished sweep.

    p95 < 20ms at concurrency 8        a latency percentile of one level (us, ms or s)
    latency <= 15ms                    the latency the run stabilised on, at every level
    avg < 10ms at concurrency 2        the average latency
    throughput >= 900 at concurrency 8 infer/s of one level (at every level without `at`)
    max_throughput >= 1200             the highest throughput of the sweep
    errors == 0                        failed requests, the whole sweep (or `at` one level)
    unstable_levels == 0               levels that did not stabilise
    recommended.knee >= 4              a concurrency the report recommends: knee,
                                       saturation, max_throughput or latency_budget

A level's figures are its stabilised (merged) ones, as the CSV reports them. A level the
sweep did not reach fails its SLO: a promise not measured is not kept. In a request-rate
sweep the levels are rates: `at concurrency` and `recommended.*` do not apply, and a latency
is perf_analyzer's, from each request's send, as in its CSV."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

from analysis.checks import SLO, CheckResult
from analysis.exit_codes import failed_requests
from analysis.report.recommend import Recommendation
from analysis.results import LevelResult, SweepResult
from analysis.settings import SweepSettings
from analysis.statistics import wanted_percentiles

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
LATENCY_UNITS_US = {"us": 1.0, "µs": 1.0, "ms": 1_000.0, "s": 1_000_000.0}
THROUGHPUT_UNITS = ("", "infer/s", "/s")
RECOMMENDED = ("knee", "saturation", "max_throughput", "latency_budget")
PER_LEVEL = ("latency", "avg", "throughput", "errors")  # and pNN
WHOLE_RUN = ("max_throughput", "unstable_levels", "errors") + tuple(
    f"recommended.{pick}" for pick in RECOMMENDED
)

_SLO = re.compile(
    r"\s*(?P<metric>[A-Za-z_][A-Za-z_.0-9]*)\s*(?P<op><=|>=|==|!=|<|>)\s*"
    r"(?P<value>\d+(?:\.\d+)?|\.\d+)\s*(?P<unit>[A-Za-zµ/]+)?"
    r"(?:\s+at\s+concurrency\s+(?P<concurrency>\S+))?\s*"
)


@dataclass(frozen=True)
class Slo:
    text: str  # as written
    metric: str  # "p95", "latency", "avg", "throughput", "errors", a WHOLE_RUN name
    op: str
    threshold: float  # latency in usec, throughput in infer/s, counts and concurrencies as is
    concurrency: int | None = None  # `at concurrency N`; None: the whole sweep, or every level

    @property
    def is_latency(self) -> bool:
        return self.metric in ("latency", "avg") or _percentile(self.metric) is not None


def parse_slo(text: str) -> Slo:
    """Raises ValueError naming what is wrong with `text`."""
    found = _SLO.fullmatch(str(text))
    if not found:
        raise ValueError(
            f"SLO {text!r}: expected METRIC OP VALUE [at concurrency N], "
            "e.g. 'p95 < 20ms at concurrency 8'"
        )
    metric, op, unit = found["metric"], found["op"], found["unit"] or ""
    value = float(found["value"])
    known = metric in PER_LEVEL or metric in WHOLE_RUN or _percentile(metric) is not None
    if not known:
        raise ValueError(
            f"SLO {text!r}: unknown metric {metric!r} (pNN, latency, avg, throughput, errors, "
            "max_throughput, unstable_levels, recommended.knee|saturation|max_throughput|"
            "latency_budget)"
        )
    concurrency = None
    if found["concurrency"] is not None:
        if not found["concurrency"].isdigit() or int(found["concurrency"]) < 1:
            raise ValueError(f"SLO {text!r}: 'at concurrency' takes a whole number from 1")
        if metric not in PER_LEVEL and _percentile(metric) is None:
            raise ValueError(f"SLO {text!r}: {metric} is of the whole sweep, not of one level")
        concurrency = int(found["concurrency"])
    slo = Slo(str(text).strip(), metric, op, value, concurrency)
    if slo.is_latency:
        if unit not in LATENCY_UNITS_US:
            raise ValueError(f"SLO {text!r}: give the latency a unit: us, ms or s")
        return Slo(slo.text, metric, op, value * LATENCY_UNITS_US[unit], concurrency)
    if metric in ("throughput", "max_throughput"):
        if unit not in THROUGHPUT_UNITS:
            raise ValueError(f"SLO {text!r}: throughput is in infer/s (no other unit)")
    elif unit:
        raise ValueError(f"SLO {text!r}: {metric} is a count, without a unit")
    return slo


def check_slo_fits(slo: Slo, settings: SweepSettings, latency_budget_ms: float | None) -> None:
    """That the sweep `settings` describe can measure `slo`; raises ValueError. Said before
    any load, rather than as a failed SLO after it."""
    p = _percentile(slo.metric)
    if p is not None and p not in wanted_percentiles(settings.percentile):
        known = ", ".join(f"p{q}" for q in wanted_percentiles(settings.percentile))
        raise ValueError(f"SLO {slo.text!r}: {slo.metric} is not measured ({known} are)")
    if settings.rate_mode and (slo.concurrency is not None or slo.metric.startswith("recommended")):
        what = "'at concurrency'" if slo.concurrency is not None else slo.metric
        raise ValueError(
            f"SLO {slo.text!r}: {what} does not apply to a request-rate sweep (its levels are "
            "rates, all at --max-threads users)"
        )
    if slo.concurrency is not None and settings.search == "binary":
        # Which levels a binary search visits depends on what it measures on the way.
        raise ValueError(
            f"SLO {slo.text!r}: 'at concurrency' needs a linear sweep; binary-search measures "
            "only the levels its verdicts lead to"
        )
    if slo.concurrency is not None:
        start, step = settings.concurrency_start, settings.concurrency_step
        if settings.concurrency_end == 0:  # open-ended, up to -l: START, START+STEP, ...
            on_grid = slo.concurrency >= start and (slo.concurrency - start) % step == 0
            levels_words = f"{start}, {start + step}, ... up to -l"
        else:
            levels = list(settings.concurrencies())
            on_grid = slo.concurrency in levels
            levels_words = ", ".join(map(str, levels))
        if not on_grid:
            raise ValueError(
                f"SLO {slo.text!r}: concurrency {slo.concurrency} is not a level of the sweep "
                f"({levels_words})"
            )
    if slo.metric == "recommended.latency_budget" and latency_budget_ms is None:
        raise ValueError(f"SLO {slo.text!r}: needs latency-budget set")


def evaluate(slo: Slo, result: SweepResult, recommendation: Recommendation) -> CheckResult:
    """Pass or fail, with what was measured in words."""
    passed, measured = _evaluate(slo, result, recommendation)
    return CheckResult(slo.text, passed, measured, SLO)


def _evaluate(slo: Slo, result: SweepResult, rec: Recommendation) -> tuple[bool, str]:
    holds = OPERATORS[slo.op]
    if slo.metric == "max_throughput":
        measured = sorted((lvl for lvl in result.levels if lvl.reported), key=lambda lvl: lvl.load)
        if not measured:
            return False, "max_throughput: no level measured"
        # The first of the highest (the lower concurrency on a tie, as the recommendation).
        top = max(measured, key=_throughput)
        return holds(_throughput(top), slo.threshold), (
            f"max_throughput: {_throughput(top):.1f} infer/s at {top.name}"
        )
    if slo.metric == "unstable_levels":
        unstable = sorted(
            (lvl for lvl in result.levels if lvl.reported and not lvl.stable),
            key=lambda lvl: lvl.load,
        )
        kind = "request rate" if result.settings.rate_mode else "concurrency"
        where = f" ({kind} {', '.join(f'{lvl.load:g}' for lvl in unstable)})" if unstable else ""
        return holds(len(unstable), slo.threshold), f"unstable_levels: {len(unstable)}{where}"
    if slo.metric.startswith("recommended."):
        pick_name = slo.metric.split(".", 1)[1]
        pick = getattr(rec, pick_name)
        if pick is None:
            return False, f"{slo.metric}: none (no level qualifies)"
        return holds(pick.concurrency, slo.threshold), f"{slo.metric}: {pick.concurrency}"
    if slo.metric == "errors" and slo.concurrency is None:
        count = failed_requests(result)
        return holds(count, slo.threshold), f"errors: {count}"
    levels = [lvl for lvl in result.levels if lvl.reported]
    if slo.concurrency is not None:
        levels = [lvl for lvl in levels if lvl.concurrency == slo.concurrency]
        if not levels:
            return False, f"{slo.metric} at concurrency {slo.concurrency}: not measured"
    if not levels:
        return False, f"{slo.metric}: no level measured"
    figures = [(lvl, _level_figure(slo, lvl, result.settings)) for lvl in levels]
    failing = [(lvl, x) for lvl, x in figures if not holds(x, slo.threshold)]
    # The figure to show: the one that broke the SLO, else the closest to breaking it.
    lvl, x = (failing or sorted(figures, key=lambda f: _margin(slo, f[1])))[0]
    words = f"{slo.metric} at {lvl.name}: {_words(slo, x)}"
    if not lvl.stable:
        words += " (unstable)"
    if slo.concurrency is None and len(levels) > 1:
        words += f", {'worst' if not failing else 'failing'} of {len(levels)} levels"
        if len(failing) > 1:
            words += f" ({len(failing)} fail)"
    return not failing, words


def _throughput(level: LevelResult) -> float:
    assert level.merged is not None  # reported levels have one
    return level.merged.throughput


def _level_figure(slo: Slo, level: LevelResult, settings: SweepSettings) -> float:
    w = level.merged
    assert w is not None  # reported levels have one
    if slo.metric == "throughput":
        return w.throughput
    if slo.metric == "errors":
        return float(sum(win.error_count for win in level.windows))
    if slo.metric == "avg":
        return float("inf") if w.avg_latency_ns is None else w.avg_latency_ns / 1000
    if slo.metric == "latency":
        return w.stabilising_latency_ns(settings.percentile) / 1000
    p = _percentile(slo.metric)
    assert p is not None
    return w.percentiles_ns[p] / 1000 if p in w.percentiles_ns else float("inf")


def _margin(slo: Slo, x: float) -> float:
    """How far `x` is from breaking the SLO (smaller: closer)."""
    if slo.op in ("<", "<="):
        return slo.threshold - x
    if slo.op in (">", ">="):
        return x - slo.threshold
    return abs(x - slo.threshold)


def _words(slo: Slo, x: float) -> str:
    if slo.is_latency:
        return f"{x / 1000:.2f} ms" if x >= 1000 else f"{x:.1f} us"
    if slo.metric == "throughput":
        return f"{x:.1f} infer/s"
    return f"{x:g}"


def _percentile(metric: str) -> int | None:
    found = re.fullmatch(r"p(\d{1,2})", metric)
    return int(found[1]) if found and 1 <= int(found[1]) <= 99 else None
