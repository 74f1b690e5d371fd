"""RunSummary: what every report output is drawn from, whichever file it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from analysis.pa_arithmetic import NS_PER_S, NS_PER_US, server_columns_us
from analysis.results import LevelLoad, SweepResult, level_cell
from analysis.server_metrics import ServerMetrics
from analysis.window import Window

# The latency breakdown's parts, in perf_analyzer's CSV order (client to server and back).
BREAKDOWN_PARTS: tuple[str, ...] = (
    "client_send",
    "network",
    "server_queue",
    "compute_input",
    "compute_infer",
    "compute_output",
    "client_recv",
)


@dataclass(frozen=True)
class WindowPoint:
    t_s: float  # seconds since the sweep's first window began
    throughput: float
    latency_us: float | None


@dataclass(frozen=True)
class StreamFigures:
    """A streamed level's responses: perf_analyzer's Response Throughput, responses per
    request, and the latency to the first response and between responses (usec)."""

    response_throughput: float
    responses_per_request: float
    first_us: dict[int, float]
    inter_us: dict[int, float]

    @classmethod
    def of(cls, w: Window) -> StreamFigures | None:
        if not w.streamed:
            return None
        return cls(
            w.response_throughput,
            w.response_count / w.request_count if w.request_count else 0.0,
            {p: v / NS_PER_US for p, v in w.first_response_percentiles_ns.items()},
            {p: v / NS_PER_US for p, v in w.inter_response_percentiles_ns.items()},
        )


@dataclass(frozen=True)
class LevelRow(LevelLoad):
    concurrency: int
    throughput: float
    latency_us: float  # the latency the run stabilised on (or p95 for a CSV that does not say)
    percentiles_us: dict[int, float]
    breakdown_us: dict[str, float]
    stable: bool | None = True  # None: not known (a CSV does not say)
    windows: list[WindowPoint] = field(default_factory=list)
    client_busy: float | None = None  # share of a core the load generator used
    client_lag_ms: float | None = None  # how late its event loop ran a timer (mean)
    avg_latency_us: float | None = None
    # max/min of throughput and of the stabilising latency over the merged windows, as the
    # stability rule compares them (inf: a window served nothing); None without windows.
    spread: tuple[float, float] | None = None
    # --collect-metrics: the server's metrics over the reported windows (None: not collected).
    server_metrics: ServerMetrics | None = None
    # --streaming: the level's responses (None: its requests did not stream).
    stream: StreamFigures | None = None
    # Request-rate mode: the level's target rate; `concurrency` is then --max-threads.
    request_rate: float | None = None

    @property
    def short_name(self) -> str:
        """A chart's label: 'c=4', or '300/s' in a rate sweep."""
        return ("c=" if self.request_rate is None else "") + level_cell(
            self.concurrency, self.request_rate
        )

    @property
    def server_compute_us(self) -> float | None:
        """Input, infer and output: the server's compute, as perf_analyzer's console sums it
        (None: not recorded, as in a profile export)."""
        if not any(p in self.breakdown_us for p in BREAKDOWN_PARTS[3:6]):
            return None
        return sum(self.breakdown_us.get(p, 0.0) for p in BREAKDOWN_PARTS[3:6])

    def latency_as(self, label: str) -> float | None:
        """This level's latency by another run's label ('avg', 'p95'), if it has it."""
        if label == "avg":
            return self.avg_latency_us
        if label.startswith("p") and label[1:].isdigit():
            return self.percentiles_us.get(int(label[1:]))
        return None


@dataclass(frozen=True)
class RunSummary:
    source: str
    latency_label: str  # "avg", "p95", ...: what latency_us is
    levels: list[LevelRow]  # by concurrency
    settings: dict[str, Any] = field(default_factory=dict)
    stop_reason: str = ""
    has_windows: bool = False
    # What was read, for the words on what it does not record: "run" (our results),
    # "csv" (perf_analyzer's CSV) or "export" (a profile export file).
    origin: str = "run"
    # What the heading says; a CSV records none of them (started_at: the file's date then).
    model: str = ""
    model_version: str = ""
    server_version: str = ""
    started_at: str = ""

    @property
    def rate_mode(self) -> bool:
        """A request-rate sweep: its levels are rates (`LevelRow.load`), not concurrencies."""
        return any(lvl.request_rate is not None for lvl in self.levels)

    def level(self, load: float) -> LevelRow | None:
        """The level at this concurrency, or at this request rate in a rate sweep."""
        return next((lvl for lvl in self.levels if lvl.load == load), None)


def from_result(result: SweepResult, source: str = "") -> RunSummary:
    """The reported levels of one of our sweeps, windows included."""
    settings = result.settings
    first_start = min((w.start_ns for lvl in result.levels for w in lvl.windows), default=0)
    rows = []
    for level in result.reported_levels:
        w = level.merged
        assert w is not None
        network, queue, c_in, c_infer, c_out = server_columns_us(w)
        rows.append(
            LevelRow(
                concurrency=level.concurrency,
                throughput=w.throughput,
                latency_us=w.stabilising_latency_ns(settings.percentile) / NS_PER_US,
                percentiles_us={p: v / NS_PER_US for p, v in w.percentiles_ns.items()},
                breakdown_us=dict(
                    zip(
                        BREAKDOWN_PARTS,
                        [
                            w.avg_send_ns / NS_PER_US,
                            network,
                            queue,
                            c_in,
                            c_infer,
                            c_out,
                            w.avg_recv_ns / NS_PER_US,
                        ],
                        strict=True,
                    )
                ),
                stable=level.stable,
                client_busy=w.client_busy,
                client_lag_ms=w.client_lag_ms,
                avg_latency_us=None if w.avg_latency_ns is None else w.avg_latency_ns / NS_PER_US,
                spread=(level.spread.throughput, level.spread.latency),
                server_metrics=w.server_metrics,
                stream=StreamFigures.of(w),
                request_rate=level.request_rate,
                windows=[
                    WindowPoint(
                        (win.end_ns - first_start) / NS_PER_S,
                        win.throughput,
                        None
                        if win.request_count == 0
                        else win.stabilising_latency_ns(settings.percentile) / NS_PER_US,
                    )
                    for win in level.windows
                ],
            )
        )
    return RunSummary(
        source=source,
        latency_label=settings.latency_label,
        levels=sorted(rows, key=lambda r: r.load),
        settings=settings.to_dict(),
        stop_reason=result.stop_reason,
        has_windows=True,
        model=settings.model,
        model_version=settings.model_version,
        server_version=result.server_version,
        started_at=result.started_at,
    )
