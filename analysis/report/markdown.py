"""A scheduled run as GitHub/GitLab-flavoured Markdown: for a CI job summary or a
merge-request comment. One overall line, then per scenario its levels, the recommendation,
the checks and, when there is one, the verdict against the baseline."""

from __future__ import annotations

import re

from analysis.baseline import BaselineVerdict
from analysis.checks import CheckResult
from analysis.exit_codes import EXIT_OK, RUN_EXIT_MEANINGS
from analysis.report.junit import sweep_problem
from analysis.report.recommend import Pick, recommend
from analysis.report.summary import RunSummary, from_result
from analysis.report.text import meaning
from analysis.run_record import RunRecord

PASS, FAIL = "✅", "❌"


def markdown_summary(
    scenarios: list[tuple[RunRecord, BaselineVerdict | None]],
    title: str = "triton-locust run",
) -> str:
    """The run's Markdown: each scenario with its baseline verdict, None where none was asked."""
    lines = [f"## {title}", "", _overall([record for record, _ in scenarios])]
    for record, verdict in scenarios:
        lines += ["", *_scenario(record, verdict)]
    return "\n".join(lines) + "\n"


def _overall(records: list[RunRecord]) -> str:
    if not records:
        return "No scenario ran."
    checks = [c for r in records for c in r.checks]
    failed = sum(1 for c in checks if not c.passed)
    broken = [r for r in records if sweep_problem(r) is not None]
    problems = []
    if broken:
        names = ", ".join(f"{r.scenario} ({_why(r)})" for r in broken)
        problems.append(
            f"{_count(len(broken), 'scenario')} of {len(records)} did not finish: {names}"
        )
    if failed:
        problems.append(f"{failed} of {_count(len(checks), 'check')} failed")
    if problems:
        return f"{FAIL} **" + "; ".join(problems) + "**"
    return (
        f"{PASS} **Passed**: {_count(len(checks), 'check')} in {_count(len(records), 'scenario')}"
    )


def _why(record: RunRecord) -> str:
    if record.finished:  # it ended, but its exit code says something broke (a file not written)
        return f"exit code {record.exit_code}"
    return record.stop_reason or "no results"


def _scenario(record: RunRecord, verdict: BaselineVerdict | None) -> list[str]:
    problem = sweep_problem(record)
    ok = problem is None and record.checks_passed
    lines = [f"### {PASS if ok else FAIL} {record.scenario}", "", _about(record)]
    if problem is not None:
        lines += ["", f"> {FAIL} {_sentence(problem)}"]
    summary = _summary(record)
    if summary is None or not summary.levels:
        lines += ["", "No level was measured."]
    else:
        lines += ["", *_levels(summary)]
        if not summary.rate_mode:  # a rate sweep's levels share one concurrency: no pick
            lines += ["", *_recommendation(summary)]
    lines += ["", *_checks(record.checks)]
    if verdict is not None:
        lines += ["", *_baseline(verdict)]
    return lines


def _about(record: RunRecord) -> str:
    model = f"Model `{record.model or '?'}`"
    if record.model_version:
        model += f" version {record.model_version}"
    parts = [model, f"Triton {record.server_version or 'version unknown'}"]
    if record.started_at:
        parts.append(f"started {record.started_at}")
    exit_words = f"exit code {record.exit_code}"
    if record.exit_code != EXIT_OK and (words := dict(RUN_EXIT_MEANINGS).get(record.exit_code)):
        exit_words += f": {words}"
    return " · ".join([*parts, exit_words])


def _summary(record: RunRecord) -> RunSummary | None:
    """The run's levels, or None when it left no results file to read (it failed first)."""
    try:
        return from_result(record.sweep(), source=record.scenario)
    except (KeyError, ValueError):
        return None


def _levels(summary: RunSummary) -> list[str]:
    label = summary.latency_label
    rows = [
        [
            f"{r.request_rate:g}" if r.request_rate is not None else str(r.concurrency),
            f"{r.throughput:.1f}",
            _ms(r.latency_us),
            {True: "stable", False: "**unstable**", None: "-"}[r.stable],
        ]
        for r in summary.levels
    ]
    load = "Request rate" if summary.rate_mode else "Concurrency"
    return _table([load, "infer/s", f"{label} latency (ms)", "Stable"], "rrrl", rows)


def _recommendation(summary: RunSummary) -> list[str]:
    rec = recommend(summary)
    label = summary.latency_label
    lines = [f"**Recommendation** ({label} latency):", ""]
    for name, key, pick in (
        ("Knee", "knee", rec.knee),
        ("Saturation", "saturation", rec.saturation),
        ("Max throughput", "max_throughput", rec.max_throughput),
    ):
        if pick is not None:
            lines.append(f"- {name}: {_pick(pick)}: {meaning(key, rec)}")
    return lines


def _pick(p: Pick) -> str:
    flag = ", unstable" if p.stable is False else ""
    return f"concurrency {p.concurrency} ({p.throughput:.1f} infer/s, {_ms(p.latency_us)} ms{flag})"


def _checks(checks: list[CheckResult]) -> list[str]:
    if not checks:
        return ["No checks."]
    lines = ["**Checks**:", ""]
    for c in checks:
        measured = f": {c.measured}" if c.measured else ""
        lines.append(f"- {PASS if c.passed else FAIL} {_code(c.name)}{measured}")
    return lines


def _baseline(verdict: BaselineVerdict) -> list[str]:
    label = verdict.latency_label
    lines = [f"**Against the baseline** ({verdict.baseline}): {_bands(verdict)}", ""]
    rows = [
        [
            v.load_words,
            f"{_num(v.baseline_throughput)} → {_num(v.throughput)}",
            _pct(v.throughput_change),
            _pct(v.latency_change),
            f"{FAIL} {v.verdict}" if v.regressed else v.verdict,
        ]
        for v in verdict.levels
    ]
    headers = [
        "Request rate" if verdict.rate_mode else "Concurrency",
        "Baseline → now (infer/s)",
        "Throughput change",
        f"{label} change",
        "Verdict",
    ]
    lines += _table(headers, "rrrrl", rows)
    if verdict.warnings:
        lines += ["", *(f"- ⚠️ {w}" for w in verdict.warnings)]
    return lines


def _bands(verdict: BaselineVerdict) -> str:
    """The one sentence on what "within noise" means for this verdict."""
    bands = [b for v in verdict.levels for b in (v.throughput_band, v.latency_band)]
    spread = ""
    if bands:
        lo, hi = min(bands), max(bands)
        spread = f" (±{lo:.1%} here)" if lo == hi else f" (±{lo:.1%} to ±{hi:.1%} here)"
    return (
        f"a level is worse when its throughput falls, or its {verdict.latency_label} latency "
        f"rises, by more than its band: the larger of the maximum regression "
        f"({verdict.max_regression * 100:.6g}%) and the noise its windows show{spread}; "
        "better when either moves as far the other way; otherwise within noise."
    )


def _table(headers: list[str], align: str, rows: list[list[str]]) -> list[str]:
    rule = {"l": ":---", "r": "---:"}
    return [
        _row(headers),
        "| " + " | ".join(rule[a] for a in align) + " |",
        *(_row(r) for r in rows),
    ]


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _cell(s: str) -> str:
    # A '|' would end the cell, a newline the row.
    return s.replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _code(s: str) -> str:
    """Inline code, so '<' and '*' in an SLO stay as written; fenced past any backticks."""
    fence = "`" * (max((len(run) for run in re.findall("`+", s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def _sentence(s: str) -> str:
    return s[:1].upper() + s[1:] + ("" if s.endswith(".") else ".")


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _ms(us: float) -> str:
    return f"{us / 1000:.2f}"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:+.1%}"
