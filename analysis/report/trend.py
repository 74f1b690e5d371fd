"""The history's two views, drawn from its RunRecords: the listing `triton-locust history`
prints, and the trend page `triton-locust history report` writes. Per scenario the page
draws, over the runs' start times, throughput and the stabilised latency at each
concurrency and the recommended concurrency (knee, saturation); partial runs (a sweep that
did not finish as planned) are hollow markers, and a table lists every run.

Pure: the records come from the store (triton_locust/history.py); nothing here reads it."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from analysis.report import charts
from analysis.report.html import HOVER_NOTE, _page, _table, svg, tool_version
from analysis.report.json_out import summary_dict
from analysis.report.recommend import Recommendation, recommend
from analysis.report.summary import RunSummary, from_result
from analysis.run_record import RunRecord, started_utc

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# How start times may be written: the results file's "+0000", ISO's "+00:00" or "Z", or
# none (taken as UTC, as every start time in a results file is).
# The picks the trend follows: where the curve bends, and where throughput tops out.
_TREND_PICKS = ("saturation", "knee")
# Marker areas: the knee's inside saturation's when both pick the same level.
_PICK_SIZES = {"saturation": 70.0, "knee": 28.0}
# A stop reason is sometimes an error message: the listing keeps its start.
_REASON_WIDTH = 40


@dataclass(frozen=True)
class RunView:
    """One record as the views show it: its levels and picks, when it could be read."""

    record: RunRecord
    when: datetime | None  # None: a start time that is not ISO 8601
    summary: RunSummary | None  # None: results unreadable (problem says why)
    rec: Recommendation | None
    problem: str = ""

    @property
    def started(self) -> str:
        return self.when.strftime("%Y-%m-%d %H:%M:%S") if self.when else self.record.started_at

    @property
    def status(self) -> str:
        """'finished', or 'partial (interrupted)': why the sweep ended early."""
        if self.record.finished:
            return "finished"
        return f"partial ({self.record.stop_reason.replace('_', ' ') or 'unknown'})"

    @property
    def levels(self) -> int:
        return len(self.summary.levels) if self.summary else 0

    @property
    def checks(self) -> str:
        checks = self.record.checks
        return f"{sum(c.passed for c in checks)}/{len(checks)}" if checks else "-"

    @property
    def model(self) -> str:
        r = self.record
        return f"{r.model} ({r.model_version})" if r.model_version else r.model or "-"

    def max_throughput(self) -> str:
        # The levels' own: a rate sweep's recommendation picks nothing.
        levels = self.summary.levels if self.summary else []
        return f"{max(r.throughput for r in levels):.1f}" if levels else "-"

    def knee(self) -> str:
        """The knee's concurrency; '>8' when the curve had not bent by the last level, 8."""
        if self.rec is None or self.rec.knee is None:
            return "-"
        return ("" if self.rec.knee_found else ">") + str(self.rec.knee.concurrency)

    def saturation(self) -> str:
        pick = self.rec.saturation if self.rec else None
        return "-" if pick is None else str(pick.concurrency)


def view(record: RunRecord) -> RunView:
    when = started_utc(record.started_at)
    try:
        summary = from_result(record.sweep(), source=f"history run {record.id}")
    except (ValueError, KeyError, TypeError) as exc:  # a record whose results do not parse
        return RunView(record, when, None, None, f"results unreadable: {exc}")
    return RunView(record, when, summary, recommend(summary))


def _ordered(records: list[RunRecord]) -> list[RunView]:
    """By start time, then id; unreadable times last, in their own order."""
    views = [view(r) for r in records]
    return sorted(
        views,
        key=lambda v: (
            v.when is None,
            v.when or datetime.min,
            v.record.started_at,
            v.record.id or 0,
        ),
    )


def history_lines(records: list[RunRecord]) -> list[str]:
    """The listing: one line per run, oldest first, columns aligned."""
    views = _ordered(records)
    headers = [
        "id",
        "started (UTC)",
        "scenario",
        "model (version)",
        "server",
        "levels",
        "max infer/s",
        "knee",
        "checks",
        "exit",
        "status",
    ]
    right = {"id", "levels", "max infer/s", "knee", "checks", "exit"}
    rows = [
        [
            "-" if v.record.id is None else str(v.record.id),
            v.started,
            v.record.scenario,
            v.model,
            v.record.server_version or "-",
            str(v.levels),
            v.max_throughput(),
            v.knee(),
            v.checks,
            str(v.record.exit_code),
            _cut(v.status if not v.problem else f"{v.status}; {v.problem}"),
        ]
        for v in views
    ]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if h in right else c.ljust(w)
            for c, w, h in zip(cells, widths, headers, strict=True)
        ).rstrip()

    lines = [line(headers)] + [line(r) for r in rows]
    if any(v.knee().startswith(">") for v in views):
        lines.append("knee >N: the curve had not bent by the last level, N (sweep higher).")
    return lines


def _cut(text: str) -> str:
    return text if len(text) <= _REASON_WIDTH else text[: _REASON_WIDTH - 1] + "…"


def trend_html(records: list[RunRecord], source: str) -> str:
    """The trend page of `records` from the history at `source` (printable: a URL's
    password already masked). The same records give the same bytes."""
    views = _ordered(records)
    scenarios = sorted({v.record.scenario for v in views})
    drawn = [v.when for v in views if v.when is not None]
    facts = [
        ["history", source],
        [
            "runs",
            f"{len(views)} of {len(scenarios)} scenario" + ("" if len(scenarios) == 1 else "s"),
        ],
    ]
    if drawn:
        first, last = min(drawn), max(drawn)
        span = f"{first:%Y-%m-%d %H:%M}" + ("" if first == last else f" to {last:%Y-%m-%d %H:%M}")
        facts.append(["when", f"{span} UTC"])
    facts.append(["report by", f"triton-locust {tool_version()}"])
    sections = [_table([], [[(k, "text"), (v, "text")] for k, v in facts], table_class="meta")]
    if not views:
        sections.append("<p>No runs recorded yet.</p>")
    data: dict[str, Any] = {"source": source, "scenarios": {}}
    for index, name in enumerate(scenarios):
        mine = [v for v in views if v.record.scenario == name]
        sections.append(_scenario_section(name, mine, f"trend{index}"))
        data["scenarios"][name] = [_run_dict(v) for v in mine]
    return _page("Run history: throughput, latency and recommended concurrency", sections, data)


def _scenario_section(name: str, views: list[RunView], chart_name: str) -> str:
    parts = [f"<h2>{html.escape(name)}</h2>"]
    labels = sorted({v.summary.latency_label for v in views if v.summary and v.summary.levels})
    models = sorted({v.model for v in views})
    parts.append(
        f'<p class="note">{len(views)} run'
        + ("" if len(views) == 1 else "s")
        + f" of {html.escape(', '.join(models))}; latency: "
        + html.escape(", ".join(labels) or "-")
        + " (what each run stabilised on).</p>"
    )
    if len(labels) > 1:
        parts.append(
            '<p class="warn">The runs stabilised on different latencies '
            f"({html.escape(', '.join(labels))}): the latency chart mixes them.</p>"
        )
    drawable = [v for v in views if v.when is not None and v.levels]
    if drawable:
        parts.append(HOVER_NOTE + svg(_trend_figure(drawable, labels, chart_name)))
        notes = []
        if any(not v.record.finished for v in drawable):
            notes.append(
                "Hollow markers: partial runs (the sweep did not finish as planned); their "
                "figures cover only the levels measured before it stopped."
            )
        if any(v.rec and v.rec.knee and not v.rec.knee_found for v in drawable):
            notes.append(
                "Triangles: the knee was not reached, the run's last level is drawn (sweep higher)."
            )
        if notes:
            parts.append(f'<p class="note">{html.escape(" ".join(notes))}</p>')
    else:
        parts.append('<p class="note">No run of this scenario reported a level to draw.</p>')
    undated = [v for v in views if v.when is None]
    if undated:
        parts.append(
            f'<p class="note">{len(undated)} run(s) with a start time that is not ISO 8601 '
            "are listed below but not drawn.</p>"
        )
    parts.append(_runs_table(views))
    return "".join(parts)


def _runs_table(views: list[RunView]) -> str:
    rows = []
    for v in reversed(views):  # newest first: what a reader looks at
        failed = [f"{c.name} ({c.measured})" for c in v.record.checks if not c.passed]
        rows.append(
            [
                "-" if v.record.id is None else v.record.id,
                (v.started, "text"),
                (v.status + (f"; {v.problem}" if v.problem else ""), "text"),
                v.record.exit_code,
                v.checks,
                ("; ".join(failed) or "-", "text"),
                (v.record.server_version or "-", "text"),
                (v.model, "text"),
                v.levels,
                v.max_throughput(),
                v.knee(),
                v.saturation(),
            ]
        )
    return _table(
        [
            "id",
            ("started (UTC)", "text"),
            ("status", "text"),
            "exit",
            "checks passed",
            ("failed checks", "text"),
            ("server", "text"),
            ("model (version)", "text"),
            "levels",
            "max infer/sec",
            "knee",
            "saturation",
        ],
        rows,
        table_class="levels",
    )


def _run_dict(v: RunView) -> dict[str, Any]:
    r = v.record
    out: dict[str, Any] = {
        "id": r.id,
        "batch": r.batch,
        "started_at": r.started_at,
        "finished": r.finished,
        "stop_reason": r.stop_reason,
        "exit_code": r.exit_code,
        "checks": [c.to_dict() for c in r.checks],
    }
    if v.summary is not None and v.rec is not None:
        out["summary"] = summary_dict(v.summary, v.rec)
    else:
        out["problem"] = v.problem
    return out


def _trend_figure(views: list[RunView], labels: list[str], name: str) -> Figure:
    """Three rows over the runs' start times: throughput and latency, a line per
    concurrency; the recommended concurrency as steps."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.ticker import MaxNLocator

    fig, (top, middle, bottom) = charts._subplots(3, 1, figsize=(10, 9), sharex=True)
    # A line per level: by concurrency, or by request rate in a rate sweep's runs.
    loads = sorted({r.load for v in views if v.summary for r in v.summary.levels})
    for i, c in enumerate(loads):
        color, style = f"C{i % 10}", ("-", "--", ":", "-.")[i // 10 % 4]
        points = [(v, row) for v in views if v.summary and (row := v.summary.level(c)) is not None]
        xs = [v.when for v, _ in points]
        for ax, ys, label in (
            (top, [row.throughput for _, row in points], points[0][1].short_name),
            (middle, [row.latency_us / 1000 for _, row in points], None),
        ):
            ax.plot(xs, ys, style, color=color, label=label, zorder=1)
        for v, row in points:
            assert v.summary is not None
            text = (
                f"run {v.record.id}, {v.started} UTC"
                + ("" if v.record.finished else f", {v.status}")
                + f": {row.name}: {row.throughput:.6g} infer/sec, "
                + f"{v.summary.latency_label} latency {int(row.latency_us)} usec"
            )
            face = color if v.record.finished else "none"
            for ax, y in ((top, row.throughput), (middle, row.latency_us / 1000)):
                point = ax.scatter([v.when], [y], s=30, facecolors=face, edgecolors=color, zorder=3)
                charts._hover(fig, point, name, text)
    _recommended(fig, bottom, views, name)
    top.set_ylabel("infer/sec")
    top.set_ylim(bottom=0)
    rated = any(v.summary.rate_mode for v in views if v.summary)
    per = "request rate" if rated else "concurrency"
    top.set_title(f"Throughput at each {per}")
    top.legend(
        fontsize=8,
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
        ncols=1 + (len(loads) - 1) // 12,
    )
    middle.set_ylabel(f"{'/'.join(labels)} latency (ms)")
    middle.set_ylim(bottom=0)
    middle.set_title(f"{' / '.join(labels)} latency (stabilised on) at each {per}")
    bottom.set_ylabel("concurrency")
    none = " (none: a request-rate sweep's levels are rates)" if rated else ""
    bottom.set_title("Recommended concurrency" + none)
    bottom.yaxis.set_major_locator(MaxNLocator(integer=True))
    # From 0, a little above the highest level swept: one run, or picks that never move,
    # must not blow a single value up into a scale of thousandths.
    concurrencies = [r.concurrency for v in views if v.summary for r in v.summary.levels]
    bottom.set_ylim(0, max(concurrencies, default=1) * 1.1 + 0.5)
    bottom.set_xlabel("run started (UTC)")
    locator = AutoDateLocator()
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    times = [v.when for v in views if v.when is not None]
    if min(times) == max(times):  # one run: a day around it, not matplotlib's years
        bottom.set_xlim(min(times) - timedelta(hours=12), max(times) + timedelta(hours=12))
    fig.tight_layout()
    return fig


def _recommended(fig: Figure, ax: Any, views: list[RunView], name: str) -> None:
    """Knee and saturation per run, as steps: each holds until the next run."""
    for key in _TREND_PICKS:
        marker, _, color, word = charts.PICK_MARKS[key]
        picked = [(v, getattr(v.rec, key)) for v in views if v.rec and getattr(v.rec, key)]
        if not picked:
            continue
        ax.plot(
            [v.when for v, _ in picked],
            [p.concurrency for _, p in picked],
            "-",
            drawstyle="steps-post",
            color=color,
            label=word,
            zorder=1,
        )
        for v, pick in picked:
            assert v.rec is not None
            unreached = key == "knee" and not v.rec.knee_found
            face = color if v.record.finished else "none"
            point = ax.scatter(
                [v.when],
                [pick.concurrency],
                s=_PICK_SIZES[key],
                marker="^" if unreached else marker,
                facecolors=face,
                edgecolors=color,
                zorder=3,
            )
            what = "knee not reached, last level" if unreached else word
            text = (
                f"run {v.record.id}, {v.started} UTC"
                + ("" if v.record.finished else f", {v.status}")
                + f": {what}: concurrency {pick.concurrency}, {pick.throughput:.6g} infer/sec"
            )
            charts._hover(fig, point, name, text)
    if ax.get_legend_handles_labels()[0]:  # a rate sweep's runs recommend nothing
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
