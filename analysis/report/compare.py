"""Two runs side by side: per concurrency (per request rate for two rate sweeps), the change
in throughput and latency from A to B, and a verdict against the noise the runs' own
windows show.

The noise band of a level is the larger of the two runs' window spreads there (max/min - 1
over the windows each reported, as the stability rule compares them): a change inside it
is one the windows of a single run already show. A CSV has no windows: its noise is
unknown, and perf_analyzer's default stability band (-s 10%) stands in for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePath

from analysis.report.settings_words import latency_label, window_words
from analysis.report.summary import LevelRow, RunSummary
from analysis.results import LevelLoad

# For a run without windows (a CSV): what a level's windows may differ by and still count
# as stable under perf_analyzer's default -s.
DEFAULT_NOISE = 0.10

BETTER, WORSE, WITHIN_NOISE, MIXED = "better", "worse", "within noise", "mixed"


@dataclass(frozen=True)
class LevelDiff(LevelLoad):
    concurrency: int  # in a request-rate sweep: 0, its levels are `request_rate`
    a_throughput: float | None
    b_throughput: float | None
    a_latency_us: float | None
    b_latency_us: float | None
    # The bands, as fractions (0.05: a change within +-5% is noise), for throughput and
    # latency; noise_known is False when a CSV's default stood in for either run.
    throughput_noise: float = DEFAULT_NOISE
    latency_noise: float = DEFAULT_NOISE
    noise_known: bool = False
    a_stable: bool | None = True
    b_stable: bool | None = True
    request_rate: float | None = None

    @property
    def throughput_change(self) -> float | None:
        return _change(self.a_throughput, self.b_throughput)

    @property
    def latency_change(self) -> float | None:
        return _change(self.a_latency_us, self.b_latency_us)

    @property
    def verdict(self) -> str:
        """B against A: better (more throughput or less latency beyond the noise, and
        neither worse), worse, mixed (one better, the other worse), or within noise."""
        if self.a_throughput is None:
            return "only in B"
        if self.b_throughput is None:
            return "only in A"
        t, lat = self.throughput_change, self.latency_change
        better = (t is not None and t > self.throughput_noise) or (
            lat is not None and lat < -self.latency_noise
        )
        worse = (t is not None and t < -self.throughput_noise) or (
            lat is not None and lat > self.latency_noise
        )
        if better and worse:
            return MIXED
        return BETTER if better else WORSE if worse else WITHIN_NOISE


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
    a_name: str = "A"
    b_name: str = "B"
    warnings: list[str] = field(default_factory=list)
    noise_note: str = ""
    rate_mode: bool = False  # two request-rate sweeps: the levels are rates

    @property
    def load_heading(self) -> str:
        return "request rate" if self.rate_mode else "concurrency"


def compare(a: RunSummary, b: RunSummary) -> Comparison:
    """Levels of either run, matched by concurrency, or by request rate when both are rate
    sweeps (a rate sweep and a concurrency sweep share no level: a warning says so). Latency
    is A's kind (p95, avg) on both sides when B has it, else each run's own, said in a
    warning. In a rate sweep it is perf_analyzer's, from each request's send."""
    a_name, b_name = run_names(a.source, b.source)
    label, warnings = a.latency_label, settings_warnings(a, b, a_name, b_name)
    if a.rate_mode != b.rate_mode:
        rated, other = (a_name, b_name) if a.rate_mode else (b_name, a_name)
        warnings.append(
            f"{rated} is a request-rate sweep and {other} a concurrency sweep: "
            "no level of one is a level of the other."
        )
    same_kind = (
        all(rb.latency_as(label) is not None for rb in b.levels)
        or a.latency_label == b.latency_label
    )
    if not same_kind:
        label = f"{a.latency_label}/{b.latency_label}"
        warnings.append(
            f"Latency compares {a_name}'s {a.latency_label} with {b_name}'s {b.latency_label}: "
            f"{b_name} does not record {a.latency_label}."
        )
    keys = sorted({(r.request_rate is not None, r.load) for r in [*a.levels, *b.levels]})
    diffs = []
    for rated, load in keys:
        ra, rb = (_at(run, load, rated) for run in (a, b))
        b_latency = None
        if rb is not None:
            b_latency = rb.latency_as(a.latency_label) if same_kind else rb.latency_us
            if b_latency is None:
                b_latency = rb.latency_us
        (t_noise, l_noise), known = _noise(ra, rb)
        diffs.append(
            LevelDiff(
                0 if rated else int(load),
                ra.throughput if ra else None,
                rb.throughput if rb else None,
                ra.latency_us if ra else None,
                b_latency,
                throughput_noise=t_noise,
                latency_noise=l_noise,
                noise_known=known,
                a_stable=ra.stable if ra else None,
                b_stable=rb.stable if rb else None,
                request_rate=load if rated else None,
            )
        )
    return Comparison(
        a.source,
        b.source,
        label,
        diffs,
        a_name=a_name,
        b_name=b_name,
        warnings=warnings,
        noise_note=_noise_note(a, b, a_name, b_name),
        rate_mode=a.rate_mode and b.rate_mode,
    )


def _at(run: RunSummary, load: float, rated: bool) -> LevelRow | None:
    """The run's level at this load, if the run measures that kind (rates or concurrencies)."""
    return run.level(load) if run.rate_mode == rated else None


def _noise(ra: LevelRow | None, rb: LevelRow | None) -> tuple[tuple[float, float], bool]:
    """((throughput band, latency band), whether both came from windows)."""
    bands, known = [], True
    for row in (ra, rb):
        if row is None:
            continue
        if row.spread is None:
            bands.append((DEFAULT_NOISE, DEFAULT_NOISE))
            known = False
        else:
            bands.append((row.spread[0] - 1, row.spread[1] - 1))
    if not bands:
        return (DEFAULT_NOISE, DEFAULT_NOISE), False
    return (max(t for t, _ in bands), max(lat for _, lat in bands)), known


def _noise_note(a: RunSummary, b: RunSummary, a_name: str, b_name: str) -> str:
    note = (
        "Noise band per level: the larger of the two runs' window spreads there (max/min - 1 "
        "over the windows each level reports); a change inside it is within noise."
    )
    blind = [name for run, name in ((a, a_name), (b, b_name)) if not run.has_windows]
    if blind:
        note += (
            f" Noise unknown for {' and '.join(blind)} (a CSV has no windows): a default band "
            f"of ±{DEFAULT_NOISE:.0%} (perf_analyzer's default -s) stands in for it."
        )
    return note


def run_names(a: str, b: str) -> tuple[str, str]:
    """Each run by its file: the shortest path tails that tell the two apart."""
    if not a or not b:
        return a or "A", b or "B"
    pa, pb = PurePath(a).parts, PurePath(b).parts
    for k in range(1, max(len(pa), len(pb)) + 1):
        na, nb = "/".join(pa[-k:]), "/".join(pb[-k:])
        if na != nb:
            return na, nb
    return f"{PurePath(a).name} (A)", f"{PurePath(b).name} (B)"  # the same file twice


def settings_warnings(a: RunSummary, b: RunSummary, a_name: str, b_name: str) -> list[str]:
    """One line per setting that makes the two runs measure different things."""
    blind = [name for run, name in ((a, a_name), (b, b_name)) if not run.settings]
    if blind:
        return [
            f"{' and '.join(blind)}: a CSV records no settings, so differing window, "
            "percentile or protocol cannot be checked."
        ]
    checks = {
        "model": lambda s: f"{s.get('model')} version {s.get('model_version') or 'default'}",
        "protocol": lambda s: str(s.get("protocol")),
        "window": window_words,
        "latency stabilised on": latency_label,
        "stability": lambda s: f"{s.get('stability_pct')}%",
        "batch size": lambda s: str(s.get("batch_size")),
        "client I/O": lambda s: str(s.get("client_io")),
    }
    warnings = []
    for what, words in checks.items():
        wa, wb = words(a.settings), words(b.settings)
        if wa != wb:
            warnings.append(f"The runs differ in {what}: {a_name} {wa}, {b_name} {wb}.")
    if a.server_version != b.server_version:
        warnings.append(
            f"The runs differ in server version: {a_name} {a.server_version or 'unknown'}, "
            f"{b_name} {b.server_version or 'unknown'}."
        )
    return warnings
