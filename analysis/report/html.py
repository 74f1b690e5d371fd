"""The report as one self-contained HTML file: inline SVG charts, inline CSS, the data as
JSON in the page; nothing is fetched, so it opens offline and attaches to a ticket. Hover
values are SVG <title> elements, which browsers show without any script."""

from __future__ import annotations

import html
import io
import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analysis.atomic_write import write_text
from analysis.report import charts
from analysis.report.compare import Comparison
from analysis.report.json_out import summary_dict
from analysis.report.metrics_table import metrics_section
from analysis.report.recommend import KNEE_METHOD, Recommendation, recommend
from analysis.report.settings_words import settings_rows
from analysis.report.stream_table import stream_section
from analysis.report.summary import LevelRow, RunSummary, from_result
from analysis.report.text import meaning, recommendation_groups
from analysis.results import SweepResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 64em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.3em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; } td.text, th.text { text-align: left; }
table.meta td, table.meta th { border: none; text-align: left; padding: 0.1em 1em 0.1em 0; }
table.meta th { background: none; color: #666; font-weight: normal; }
th.stabilised { background: #dde8f5; } table.levels { font-size: 0.85em; }
tr.unstable td { color: #d62728; } td.over { font-weight: bold; }
pre { background: #f7f7f7; padding: 1em; white-space: pre-wrap; }
.note { color: #666; } .warn { color: #a15c00; background: #fff6e5; padding: 0.5em 1em; }
svg g[id^="hover-"] { cursor: crosshair; } svg g[id^="hover-"]:hover { opacity: 0.6; }
"""

HOVER_NOTE = '<p class="note">Hover over a point or bar for its figures.</p>'


def tool_version() -> str:
    """This package's version, as installed; 'unknown' when run from a bare source tree."""
    try:
        return version("triton-locust")
    except PackageNotFoundError:
        return "unknown"


def svg(fig: Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    titles = charts.hover_titles(fig)
    charts.close(fig)
    text = buffer.getvalue()
    text = text[text.index("<svg") :]  # drop the XML prologue and doctype: inline in HTML
    for gid, title in titles.items():
        opening = f'<g id="{gid}">'
        text = text.replace(opening, f"{opening}<title>{html.escape(title)}</title>", 1)
    return text


def _cell(c: Any) -> str:
    """A cell: a plain value, or (value, class) for a styled one."""
    if isinstance(c, tuple):
        value, cls = c
        return f'<td class="{cls}">{html.escape(str(value))}</td>'
    return f"<td>{html.escape(str(c))}</td>"


def _table(
    headers: list[Any],
    rows: list[list[Any]],
    classes: list[str] | None = None,
    table_class: str = "",
) -> str:
    """Headers and cells may be (text, class) pairs."""
    head = "".join(
        f'<th class="{h[1]}">{html.escape(h[0])}</th>'
        if isinstance(h, tuple)
        else f"<th>{html.escape(h)}</th>"
        for h in headers
    )
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(_cell(c) for c in row) + "</tr>")
    tcls = f' class="{table_class}"' if table_class else ""
    head_row = f"<tr>{head}</tr>" if headers else ""
    return f"<table{tcls}>{head_row}{''.join(body)}</table>"


# What a report read, in words: what it cannot say is said as "{words} does not say".
ORIGIN_WORDS = {"csv": "a perf_analyzer CSV", "export": "a profile export"}


def _origin_words(summary: RunSummary, sentence: bool = False) -> str:
    words = ORIGIN_WORDS.get(summary.origin, "the file")
    return words[0].upper() + words[1:] if sentence else words


def _us(x: float | None) -> str:
    """Whole microseconds, truncated as perf_analyzer prints them."""
    return "-" if x is None else str(int(x))


def _spread(ratio: float, allowed_pct: float | None) -> Any:
    text = charts.spread_pct(ratio)
    over = allowed_pct is not None and ratio > 1 + allowed_pct / 100
    return (text, "over") if over else text


def _stable_words(r: LevelRow) -> str:
    return {True: "yes", False: "NO", None: "unknown"}[r.stable]


def _levels_table(summary: RunSummary) -> str:
    """perf_analyzer's figures per level, each latency once; the one the run stabilised on
    highlighted; windows' spread and the load generator's health where the run has them."""
    label = summary.latency_label
    percentiles = sorted({p for r in summary.levels for p in r.percentiles_us})
    latencies: list[tuple[str, Any]] = [("avg", lambda r: r.avg_latency_us)]
    latencies += [(f"p{p}", lambda r, p=p: r.percentiles_us.get(p)) for p in percentiles]
    if label not in [name for name, _ in latencies]:  # stabilised on one the CSV lacks
        latencies.append((label, lambda r: r.latency_us))
    has_spread = any(r.spread is not None for r in summary.levels)
    has_client = any(r.client_busy is not None for r in summary.levels)
    allowed = summary.settings.get("stability_pct")

    headers: list[Any] = ["concurrency", "infer/sec"]
    headers += [
        (f"{name} (us)", "stabilised") if name == label else f"{name} (us)" for name, _ in latencies
    ]
    headers += ["server queue (us)", "server compute (us)", "stable"]
    if has_spread:
        headers += ["throughput spread", f"{label} spread"]
    if has_client:
        headers += ["client busy", "client loop lag (ms)"]
    rows = []
    for r in summary.levels:
        row: list[Any] = [r.concurrency, f"{r.throughput:.6g}"]
        row += [_us(get(r)) for _, get in latencies]
        row += [
            _us(r.breakdown_us.get("server_queue")),
            _us(r.server_compute_us),
            _stable_words(r),
        ]
        if has_spread:
            row += (
                ["-", "-"]
                if r.spread is None
                else [_spread(r.spread[0], allowed), _spread(r.spread[1], allowed)]
            )
        if has_client:
            row += [
                "-" if r.client_busy is None else f"{r.client_busy:.0%}",
                "-" if r.client_lag_ms is None else f"{r.client_lag_ms:.2f}",
            ]
        rows.append(row)
    notes = [
        f"Highlighted: {label}, the latency the run stabilised on and the recommendation reads."
    ]
    if has_spread:
        notes.append(
            "Spread: how much the windows each level reports differ (max/min - 1); "
            f"bold: over the {allowed:g}% allowed (-s)."
            if allowed is not None
            else "Spread: how much the windows each level reports differ (max/min - 1)."
        )
    if not summary.has_windows:
        notes.append(
            "A perf_analyzer CSV does not say whether a level was stable, nor what its windows "
            f"or the load generator did; {label} is assumed to be what it stabilised on. "
            + (
                "avg is the CSV's Avg latency column."
                if summary.levels and summary.levels[0].avg_latency_us is not None
                else ""
            )
        )
    return (
        _table(
            headers,
            rows,
            ["unstable" if r.stable is False else "" for r in summary.levels],
            table_class="levels",
        )
        + f'<p class="note">{html.escape(" ".join(notes))}</p>'
    )


def _heading(summary: RunSummary) -> tuple[str, str]:
    """(the page's title, the facts under it) a perf engineer looks for first."""
    from_csv = summary.origin == "csv"
    model = summary.model or "model not recorded"
    title = f"{model}: throughput and latency by concurrency"
    unknown = f"not recorded ({_origin_words(summary)} does not say)"
    protocol = {"http": "HTTP", "grpc": "gRPC"}.get(summary.settings.get("protocol", ""), "")
    server = (
        f"Triton {summary.server_version or '(version unknown)'} at "
        f"{summary.settings.get('url')}" + (f" over {protocol}" if protocol else "")
        if summary.settings
        else unknown
    )
    version_words = summary.model_version or "the server's choice"
    facts = [
        ["model", f"{summary.model} (version: {version_words})" if summary.model else unknown],
        ["server", server],
        [
            "file written" if from_csv else "run started",
            summary.started_at.replace("T", " ") or "unknown",
        ],
        [
            "latency",
            f"{summary.latency_label}"
            + (
                " (what the run stabilised on)"
                if summary.origin == "run"
                else f" (assumed: {ORIGIN_WORDS[summary.origin]} does not say what its run "
                "stabilised on)"
            ),
        ],
        ["results", summary.source or "this sweep"],
        ["report by", f"triton-locust {tool_version()}"],
    ]
    if summary.stop_reason and summary.stop_reason != "completed":
        facts.append(["sweep ended", _stop_words(summary.stop_reason)])
    return title, _table(
        [],
        [[(k, "text"), (v, "text")] for k, v in facts],
        table_class="meta",
    )


def _unstable_note(summary: RunSummary) -> str:
    unstable = [r for r in summary.levels if r.stable is False]
    if not unstable:
        return ""
    allowed = summary.settings.get("stability_pct")
    trials = summary.settings.get("max_trials")
    lines = []
    for r in unstable:
        line = f"Concurrency {r.concurrency} did not settle" + (
            f" within {trials} windows" if trials else ""
        )
        if r.spread is not None:
            spread = charts.spread_text(r.spread, summary.latency_label)
            line += f": over the windows it reports, {spread}"
            if allowed is not None:
                line += f", against the {allowed:g}% allowed"
        lines.append(line + ".")
    lines.append("Their figures merge unsettled windows: read them with care (bars on the curve).")
    return f'<p class="warn">{html.escape(" ".join(lines))}</p>'


def _stop_words(stop_reason: str) -> str:
    # A results file is rewritten after every level with "running": one that still says so
    # was left by a process that never finished (killed, or the machine went down).
    if stop_reason == "running":
        return "did not finish: the run stopped (killed?) after the levels shown"
    return stop_reason.replace("_", " ")


def _recommendation(rec: Recommendation) -> str:
    rows = []
    for keys, pick in recommendation_groups(rec):
        rows.append(
            [
                pick.concurrency,
                f"{pick.throughput:.6g}",
                _us(pick.latency_us),
                "no" if pick.stable is False else "yes" if pick.stable else "unknown",
                (", ".join(k.replace("_", " ") for k in keys), "text"),
                ("; ".join(meaning(k, rec) for k in keys), "text"),
            ]
        )
    table = _table(
        [
            "concurrency",
            "infer/sec",
            f"{rec.latency_label} latency (us)",
            "stable",
            ("chosen as", "text"),
            ("because", "text"),
        ],
        rows,
    )
    extra = ""
    if rec.latency_budget_ms is not None and rec.latency_budget is None:
        extra = f"<p>No level stays within the {rec.latency_budget_ms:g} ms latency budget.</p>"
    return table + extra + f'<p class="note">{html.escape(KNEE_METHOD)}</p>'


def _page(title: str, sections: list[str], data: dict[str, Any]) -> str:
    # "</" cannot close the script element early once escaped this way.
    payload = json.dumps(data).replace("</", "<\\/")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{''.join(sections)}"
        f'<script type="application/json" id="report-data">{payload}</script>'
        "</body></html>\n"
    )


def report_html(summary: RunSummary, rec: Recommendation) -> str:
    title, facts = _heading(summary)
    sections = [
        facts,
        _unstable_note(summary),
        "<h2>Recommendation</h2>" + _recommendation(rec),
        "<h2>Throughput vs latency</h2>"
        + HOVER_NOTE
        + svg(charts.throughput_latency(summary, rec)),
        "<h2>Levels</h2>" + _levels_table(summary),
        metrics_section([(str(r.concurrency), r.server_metrics) for r in summary.levels]),
        stream_section(summary.levels),
        "<h2>Throughput and latency by concurrency</h2>" + svg(charts.by_concurrency(summary, rec)),
        "<h2>Latency breakdown</h2>"
        + (
            svg(charts.breakdown(summary))
            if any(r.breakdown_us for r in summary.levels)
            else f'<p class="note">{_origin_words(summary, sentence=True)} '
            "records no client or server breakdown.</p>"
        ),
        "<h2>How each level settled</h2>"
        + (
            svg(charts.windows(summary))
            if summary.has_windows
            else '<p class="note">Windows are known only from triton-locust\'s JSON results, '
            "not from a CSV.</p>"
        ),
        "<h2>Settings</h2>"
        + (
            _table(
                [("setting", "text"), ("value", "text")],
                [[(k, "text"), (v, "text")] for k, v in settings_rows(summary.settings)],
            )
            if summary.settings
            else f'<p class="note">{_origin_words(summary, sentence=True)} '
            "does not record its settings.</p>"
        ),
    ]
    return _page(title, sections, summary_dict(summary, rec))


def comparison_html(cmp: Comparison, a: RunSummary, b: RunSummary) -> str:
    warnings = "".join(f'<p class="warn">{html.escape(w)}</p>' for w in cmp.warnings)
    lat = cmp.latency_label
    rows = []
    for d in cmp.levels:
        unstable = [n for n, s in (("A", d.a_stable), ("B", d.b_stable)) if s is False]
        rows.append(
            [
                d.load_words,
                _num(d.a_throughput, ".6g"),
                _num(d.b_throughput, ".6g"),
                _pct(d.throughput_change),
                _us(d.a_latency_us),
                _us(d.b_latency_us),
                _pct(d.latency_change),
                f"±{d.throughput_noise:.0%} / ±{d.latency_noise:.0%}"
                + ("" if d.noise_known else " (default)"),
                (
                    d.verdict + (f" (unstable in {' and '.join(unstable)})" if unstable else ""),
                    "text",
                ),
            ]
        )
    table = _table(
        [
            cmp.load_heading,
            "A infer/sec",
            "B infer/sec",
            "change",
            f"A {lat} (us)",
            f"B {lat} (us)",
            "change",
            "noise band (throughput / latency)",
            ("verdict for B", "text"),
        ],
        rows,
    )
    names = _table(
        [],
        [
            [("A", "text"), (f"{cmp.a_name}  ({cmp.a_source})", "text")],
            [("B", "text"), (f"{cmp.b_name}  ({cmp.b_source})", "text")],
            [("report by", "text"), (f"triton-locust {tool_version()}", "text")],
        ],
        table_class="meta",
    )
    sections = [
        names,
        warnings,
        "<h2>Level by level</h2>" + table + f'<p class="note">{html.escape(cmp.noise_note)}</p>',
        "<h2>Throughput vs latency</h2>"
        + HOVER_NOTE
        + svg(charts.throughput_latency(a, other=b, names=(cmp.a_name, cmp.b_name))),
    ]
    data = {"a": summary_dict(a, recommend(a)), "b": summary_dict(b, recommend(b))}
    return _page(f"{cmp.a_name} vs {cmp.b_name}", sections, data)


def _num(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:+.1%}"


def write_report(
    result: SweepResult | RunSummary,
    html_path: str | Path,
    png_path: str | Path | None = None,
    latency_budget_ms: float | None = None,
) -> Recommendation | None:
    """Write the HTML report (and the main chart as PNG); returns the recommendation (None
    for a request-rate sweep: the recommendation picks a concurrency)."""
    if isinstance(result, SweepResult) and result.settings.rate_mode:
        from analysis.report.rate import rate_report_html

        write_text(html_path, rate_report_html(result))
        return None
    summary = from_result(result) if isinstance(result, SweepResult) else result
    rec = recommend(summary, latency_budget_ms)
    write_text(html_path, report_html(summary, rec))
    if png_path:
        from analysis.report.png import write_png

        write_png(summary, rec, png_path)
    return rec
