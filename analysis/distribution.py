"""Latency distributions a window can hold: the exact samples (one process), or a
mergeable log-linear histogram (HDR-style; what Locust workers ship to the master).

Both answer the same questions the same way: count, integer mean, sample standard
deviation and perf_analyzer's rank-rule percentiles. The histogram keeps every value within
0.05% (buckets 2^-10 wide relative to their value, reported at their middle; exact below
1024 ns), its memory bounded by the range of values, not their number."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from analysis.statistics import percentile_rank, wanted_percentiles

SUB_BITS = 10  # 1024 buckets per power of two: relative width <= 2^-10
_SUB = 1 << SUB_BITS
# The histogram's wire format (to_wire, and the worker's window reply that carries it). Bump
# it on any change to either: a master and a worker of different formats would merge each
# other's histograms silently wrong, so a worker of another version is refused when it
# connects (triton_user/sweep/window_channel.py) and a payload of another is never merged.
# 2: the window reply carries request-rate mode's figures, and the master sends rate shares.
# 3: it carries --streaming's response count and first- and inter-response histograms.
# 4: it carries a sequence model's sequence count.
WIRE_VERSION = 4


class WireVersionError(ValueError):
    """A payload in another wire format than ours; one line naming both versions."""


def check_wire_version(version: Any, what: str) -> None:
    """Raise WireVersionError unless `version` (None: a release before versions) is ours."""
    if version != WIRE_VERSION:
        theirs = "none" if version is None else version
        raise WireVersionError(
            f"{what} has histogram wire version {theirs}, this side's is {WIRE_VERSION}"
        )


class LatencyDistribution(Protocol):
    @property
    def count(self) -> int: ...

    def mean_ns(self) -> int: ...

    def std_us(self) -> float: ...

    def percentile_ns(self, percentile: int) -> int: ...


def percentiles_of(dist: LatencyDistribution, extra: int | None = None) -> dict[int, int]:
    return {p: dist.percentile_ns(p) for p in wanted_percentiles(extra)}


@dataclass(frozen=True)
class ExactLatencies:
    """The sorted samples themselves: perf_analyzer's own figures, exactly."""

    sorted_ns: np.ndarray

    @classmethod
    def of(cls, latencies_ns: np.ndarray) -> ExactLatencies:
        return cls(np.sort(np.asarray(latencies_ns, dtype=np.int64)))

    @property
    def count(self) -> int:
        return len(self.sorted_ns)

    def mean_ns(self) -> int:
        return int(self.sorted_ns.sum(dtype=np.int64)) // self.count

    def std_us(self) -> float:
        if self.count < 2:
            return math.inf
        deviations = self.sorted_ns.astype(np.float64) - float(self.mean_ns())
        variance = _sum_of_squares(deviations) / (self.count - 1)
        return float(math.floor(math.sqrt(variance) / 1000))

    def percentile_ns(self, percentile: int) -> int:
        return int(self.sorted_ns[percentile_rank(self.count, percentile)])

    def merge(self, others: list[ExactLatencies]) -> ExactLatencies:
        return ExactLatencies.of(np.concatenate([self.sorted_ns, *(o.sorted_ns for o in others)]))


def _sum_of_squares(values: np.ndarray) -> float:
    """numpy's own loop, not np.dot: OpenBLAS splits a long dot product over its threads,
    whose workers then spin about 0.1 s on the other cores, CPU the load generator takes
    from the server under test and counts as its own busy share."""
    return float(np.square(values).sum())


def bucket_index(values_ns: np.ndarray) -> np.ndarray:
    """Bucket of each value (values below 1 count as 1)."""
    v = np.maximum(np.asarray(values_ns, dtype=np.int64), 1)
    exponent = np.floor(np.log2(v.astype(np.float64))).astype(np.int64)
    # log2 of a float can be off by one next to a power of two: settle it with integers.
    exponent -= (np.left_shift(1, exponent) > v).astype(np.int64)
    exponent += (np.left_shift(1, exponent + 1) <= v).astype(np.int64)
    shift = np.maximum(exponent - SUB_BITS, 0)
    mantissa = np.right_shift(v, shift)
    return np.where(exponent < SUB_BITS, v, (shift + 1) * _SUB + (mantissa - _SUB))


def bucket_value(index: np.ndarray) -> np.ndarray:
    """The value a bucket stands for: exact below 2^SUB_BITS, else the bucket's middle."""
    index = np.asarray(index, dtype=np.int64)
    level = index // _SUB  # 0: exact region
    shift = np.maximum(level - 1, 0)
    lower = np.left_shift(index % _SUB + _SUB, shift)
    middle = lower + np.right_shift(np.left_shift(1, shift), 1)
    return np.where(level == 0, index, middle)


@dataclass(frozen=True)
class LatencyHistogram:
    """Sparse: the occupied buckets and their counts, plus exact sums for the mean."""

    buckets: np.ndarray  # sorted bucket indices
    counts: np.ndarray
    sum_ns: int
    sum_sq_ns: float

    @classmethod
    def of(cls, latencies_ns: np.ndarray) -> LatencyHistogram:
        values = np.asarray(latencies_ns, dtype=np.int64)
        buckets, counts = np.unique(bucket_index(values), return_counts=True)
        as_float = values.astype(np.float64)
        return cls(buckets, counts.astype(np.int64), int(values.sum()), _sum_of_squares(as_float))

    @classmethod
    def empty(cls) -> LatencyHistogram:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z, 0, 0.0)

    @property
    def count(self) -> int:
        return int(self.counts.sum())

    def mean_ns(self) -> int:
        return self.sum_ns // self.count

    def std_us(self) -> float:
        n = self.count
        if n < 2:
            return math.inf
        variance = max(0.0, (self.sum_sq_ns - self.sum_ns * self.sum_ns / n) / (n - 1))
        return float(math.floor(math.sqrt(variance) / 1000))

    def percentile_ns(self, percentile: int) -> int:
        rank = percentile_rank(self.count, percentile)
        position = int(np.searchsorted(np.cumsum(self.counts), rank, side="right"))
        return int(bucket_value(self.buckets[position : position + 1])[0])

    def merge(self, others: list[LatencyHistogram]) -> LatencyHistogram:
        parts = [self, *others]
        buckets = np.concatenate([p.buckets for p in parts])
        counts = np.concatenate([p.counts for p in parts])
        merged, where = np.unique(buckets, return_inverse=True)
        return LatencyHistogram(
            merged,
            np.bincount(where, weights=counts, minlength=len(merged)).astype(np.int64),
            sum(p.sum_ns for p in parts),
            sum(p.sum_sq_ns for p in parts),
        )

    def to_wire(self) -> dict[str, Any]:
        """Plain lists and numbers: what Locust's message channel (msgpack) carries."""
        return {
            "version": WIRE_VERSION,
            "buckets": self.buckets.tolist(),
            "counts": self.counts.tolist(),
            "sum_ns": self.sum_ns,
            "sum_sq_ns": self.sum_sq_ns,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> LatencyHistogram:
        """The histogram `to_wire` gave; raises WireVersionError for another format."""
        check_wire_version(data.get("version"), "a histogram")
        return cls(
            np.asarray(data["buckets"], dtype=np.int64),
            np.asarray(data["counts"], dtype=np.int64),
            int(data["sum_ns"]),
            float(data["sum_sq_ns"]),
        )


def merge_all(dists: list[Any]) -> Any:
    """Merge distributions of one kind; a mix falls back to histograms."""
    if not dists:
        return ExactLatencies.of(np.zeros(0, dtype=np.int64))
    if all(isinstance(d, ExactLatencies) for d in dists):
        return dists[0].merge(list(dists[1:]))
    hists = [
        d if isinstance(d, LatencyHistogram) else LatencyHistogram.of(d.sorted_ns) for d in dists
    ]
    return hists[0].merge(hists[1:])
