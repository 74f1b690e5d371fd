"""The report as one self-contained HTML file: inline SVG charts, inline CSS, the data as
JSON in the page; nothing is fetched, so it opens offline and attaches to a ticket."""

from __future__ import annotations

import html
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analysis.atomic_write import write_text
from analysis.report import charts
from analysis.report.compare import Comparison
from analysis.report.json_out import summary_dict
from analysis.report.recommend import Recommendation, recommend
from analysis.report.summary import RunSummary, from_result
from analysis.report.text import comparison_lines, recommendation_lines
from analysis.results import SweepResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; } td.text, th.text { text-align: left; }
tr.unstable td { color: #d62728; }
pre { background: #f7f7f7; padding: 1em; white-space: pre-wrap; }
.note { color: #666; }
"""


def svg(fig: Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    charts.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prologue and doctype: inline in HTML


def _table(headers: list[str], rows: list[list[Any]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        body.append(
            f"<tr{cls}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
        )
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _levels_table(summary: RunSummary) -> str:
    percentiles = sorted({p for r in summary.levels for p in r.percentiles_us})
    headers = ["concurrency", "infer/sec", f"{summary.latency_label} latency (us)"]
    headers += [f"p{p} (us)" for p in percentiles]
    headers += ["stable", "client busy", "client loop lag (ms)"]
    rows = [
        [r.concurrency, f"{r.throughput:.6g}", f"{r.latency_us:.0f}"]
        + [f"{r.percentiles_us.get(p, float('nan')):.0f}" for p in percentiles]
        + [
            "yes" if r.stable else "NO",
            "-" if r.client_busy is None else f"{r.client_busy:.0%}",
            "-" if r.client_lag_ms is None else f"{r.client_lag_ms:.2f}",
        ]
        for r in summary.levels
    ]
    return _table(headers, rows, ["" if r.stable else "unstable" for r in summary.levels])


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
    sections = [
        f'<p class="note">Source: {html.escape(summary.source or "sweep")}; latency is '
        f"{html.escape(summary.latency_label)}"
        + (f"; sweep ended: {html.escape(summary.stop_reason)}" if summary.stop_reason else "")
        + ".</p>",
        "<h2>Recommendation</h2><pre>"
        + html.escape("\n".join(recommendation_lines(rec)))
        + "</pre>",
        "<h2>Throughput vs latency</h2>" + svg(charts.throughput_latency(summary, rec)),
        "<h2>Levels</h2>" + _levels_table(summary),
        "<h2>Throughput and latency by concurrency</h2>" + svg(charts.by_concurrency(summary)),
        "<h2>Latency breakdown</h2>" + svg(charts.breakdown(summary)),
        "<h2>How each level settled</h2>"
        + (
            svg(charts.windows(summary))
            if summary.has_windows
            else '<p class="note">Windows are known only from triton-locust\'s JSON results, '
            "not from a CSV.</p>"
        ),
    ]
    if summary.settings:
        rows = [
            [k, json.dumps(v) if isinstance(v, dict | list) else v]
            for k, v in summary.settings.items()
        ]
        sections.append("<h2>Settings</h2>" + _table(["setting", "value"], rows))
    return _page("triton-locust report", sections, summary_dict(summary, rec))


def comparison_html(cmp: Comparison, a: RunSummary, b: RunSummary) -> str:
    sections = [
        "<pre>" + html.escape("\n".join(comparison_lines(cmp))) + "</pre>",
        "<h2>Throughput vs latency</h2>" + svg(charts.throughput_latency(a, other=b)),
    ]
    data = {"a": summary_dict(a, recommend(a)), "b": summary_dict(b, recommend(b))}
    return _page("triton-locust comparison", sections, data)


def write_report(
    result: SweepResult | RunSummary,
    html_path: str | Path,
    png_path: str | Path | None = None,
    latency_budget_ms: float | None = None,
) -> Recommendation:
    """Write the HTML report (and the main chart as PNG); returns the recommendation."""
    summary = from_result(result) if isinstance(result, SweepResult) else result
    rec = recommend(summary, latency_budget_ms)
    write_text(html_path, report_html(summary, rec))
    if png_path:
        from analysis.report.png import write_png

        write_png(summary, rec, png_path)
    return rec
