"""Two runs side by side: per concurrency, the change in throughput and latency from A to B."""

from __future__ import annotations

from dataclasses import dataclass

from analysis.report.summary import RunSummary


@dataclass(frozen=True)
class LevelDiff:
    concurrency: int
    a_throughput: float | None
    b_throughput: float | None
    a_latency_us: float | None
    b_latency_us: float | None

    @property
    def throughput_change(self) -> float | None:
        return _change(self.a_throughput, self.b_throughput)

    @property
    def latency_change(self) -> float | None:
        return _change(self.a_latency_us, self.b_latency_us)


def _change(a: float | None, b: float | None) -> float | None:
    """Relative change from a to b (+0.10 is 10% more); None where either is missing."""
    if a is None or b is None or a == 0:
        return None
    return b / a - 1


@dataclass(frozen=True)
class Comparison:
    a_source: str
    b_source: str
    latency_label: str
    levels: list[LevelDiff]


def compare(a: RunSummary, b: RunSummary) -> Comparison:
    """Levels of either run, matched by concurrency. Latencies are compared as each run
    labels them; the label says which when both agree, else 'a-label/b-label'."""
    concurrencies = sorted({r.concurrency for r in a.levels} | {r.concurrency for r in b.levels})
    diffs = []
    for c in concurrencies:
        ra, rb = a.level(c), b.level(c)
        diffs.append(
            LevelDiff(
                c,
                ra.throughput if ra else None,
                rb.throughput if rb else None,
                ra.latency_us if ra else None,
                rb.latency_us if rb else None,
            )
        )
    label = (
        a.latency_label
        if a.latency_label == b.latency_label
        else (f"{a.latency_label}/{b.latency_label}")
    )
    return Comparison(a.source, b.source, label, diffs)
