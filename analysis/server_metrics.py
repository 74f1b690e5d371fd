"""Triton's Prometheus metrics as perf_analyzer's --collect-metrics reads them: the scrapes
taken during a window, and their aggregates per GPU (metrics_manager.cc, inference_profiler.cc
MergeMetrics): the average utilisation and power, the highest memory used, the first total
memory seen. Beyond perf_analyzer, Triton's CPU figures (a CPU-only server has no others),
aggregated the same way: average utilisation, highest memory used, highest total (Triton
says 0 until its first CPU poll).

Pure: the text is fetched at the I/O edge (triton_user/requests/metrics.py) and parsed here
with prometheus_client's parser of the exposition format."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# perf_analyzer's four metrics, per GPU (labelled gpu_uuid), in the order it reports them.
GPU_UTILIZATION = "nv_gpu_utilization"  # 0.0 - 1.0
GPU_POWER_USAGE = "nv_gpu_power_usage"  # watts
GPU_MEMORY_USED = "nv_gpu_memory_used_bytes"
GPU_MEMORY_TOTAL = "nv_gpu_memory_total_bytes"
GPU_METRICS = (GPU_UTILIZATION, GPU_POWER_USAGE, GPU_MEMORY_USED, GPU_MEMORY_TOTAL)
# Triton's CPU metrics (one value each, the whole machine's), ours to report.
CPU_UTILIZATION = "nv_cpu_utilization"  # 0.0 - 1.0
CPU_MEMORY_USED = "nv_cpu_memory_used_bytes"
CPU_MEMORY_TOTAL = "nv_cpu_memory_total_bytes"
CPU_METRICS = (CPU_UTILIZATION, CPU_MEMORY_USED, CPU_MEMORY_TOTAL)
_WANTED = GPU_METRICS + CPU_METRICS
GPU_LABEL = "gpu_uuid"

# perf_analyzer's defaults: --metrics-url (its port on the -u host), --metrics-interval.
METRICS_PORT = 8002
METRICS_PATH = "/metrics"
DEFAULT_METRICS_INTERVAL_MS = 1000
# Above this many GPUs perf_analyzer prints no per-GPU lines (ReportPrometheusMetrics).
MAX_GPUS_ON_CONSOLE = 16


@dataclass(frozen=True)
class Scrape:
    """One answer of the metrics endpoint: when it arrived (the sweep's clock, ns) and the
    figures perf_analyzer keeps, per GPU uuid; the CPU's, None when the server has none."""

    at_ns: int
    gpu_utilization: dict[str, float] = field(default_factory=dict)
    gpu_power_usage: dict[str, float] = field(default_factory=dict)
    gpu_memory_used_bytes: dict[str, int] = field(default_factory=dict)
    gpu_memory_total_bytes: dict[str, int] = field(default_factory=dict)
    cpu_utilization: float | None = None
    cpu_memory_used_bytes: int | None = None
    cpu_memory_total_bytes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The figures the server gave (a server without GPUs has no GPU keys)."""
        figures = {
            "gpu_utilization": self.gpu_utilization,
            "gpu_power_usage": self.gpu_power_usage,
            "gpu_memory_used_bytes": self.gpu_memory_used_bytes,
            "gpu_memory_total_bytes": self.gpu_memory_total_bytes,
            "cpu_utilization": self.cpu_utilization,
            "cpu_memory_used_bytes": self.cpu_memory_used_bytes,
            "cpu_memory_total_bytes": self.cpu_memory_total_bytes,
        }
        return {"at_ns": self.at_ns, **{k: v for k, v in figures.items() if v not in (None, {})}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scrape:
        def ints(key: str) -> dict[str, int]:
            return {k: int(v) for k, v in (data.get(key) or {}).items()}

        def floats(key: str) -> dict[str, float]:
            return {k: float(v) for k, v in (data.get(key) or {}).items()}

        return cls(
            at_ns=int(data["at_ns"]),
            gpu_utilization=floats("gpu_utilization"),
            gpu_power_usage=floats("gpu_power_usage"),
            gpu_memory_used_bytes=ints("gpu_memory_used_bytes"),
            gpu_memory_total_bytes=ints("gpu_memory_total_bytes"),
            cpu_utilization=data.get("cpu_utilization"),
            cpu_memory_used_bytes=data.get("cpu_memory_used_bytes"),
            cpu_memory_total_bytes=data.get("cpu_memory_total_bytes"),
        )


def parse_scrape(text: str, at_ns: int) -> Scrape:
    """The figures of one exposition text; raises ValueError when the lines of the metrics
    kept are not Prometheus' exposition format (a text without them has no figures, as
    perf_analyzer's regular expressions find none). Memory is truncated to whole bytes, as
    perf_analyzer's uint64 cast."""
    # Here, not at start-up: prometheus_client takes 45 ms to import, and every command
    # loads the settings, which name this module.
    from prometheus_client.parser import text_string_to_metric_families

    # Only the lines of the metrics kept go to the parser: a server with many models has
    # thousands of others, and this runs on the sweep's event loop every interval.
    kept = "\n".join(line for line in text.splitlines() if _wanted(line)) + "\n"
    per_gpu: dict[str, dict[str, float]] = {name: {} for name in GPU_METRICS}
    cpu: dict[str, float] = {}
    try:
        for family in text_string_to_metric_families(kept):
            for sample in family.samples:
                if not 0 <= sample.value < math.inf:
                    continue  # NaN, infinite, negative: perf_analyzer's pattern takes digits only
                if sample.name in per_gpu and GPU_LABEL in sample.labels:
                    per_gpu[sample.name][sample.labels[GPU_LABEL]] = float(sample.value)
                elif sample.name in CPU_METRICS and not sample.labels:
                    cpu[sample.name] = float(sample.value)
    except ValueError as exc:
        raise ValueError(f"not Prometheus' exposition format ({_one_line(exc)})") from None
    return Scrape(
        at_ns=at_ns,
        gpu_utilization=per_gpu[GPU_UTILIZATION],
        gpu_power_usage=per_gpu[GPU_POWER_USAGE],
        gpu_memory_used_bytes={k: int(v) for k, v in per_gpu[GPU_MEMORY_USED].items()},
        gpu_memory_total_bytes={k: int(v) for k, v in per_gpu[GPU_MEMORY_TOTAL].items()},
        cpu_utilization=cpu.get(CPU_UTILIZATION),
        cpu_memory_used_bytes=_int_or_none(cpu.get(CPU_MEMORY_USED)),
        cpu_memory_total_bytes=_int_or_none(cpu.get(CPU_MEMORY_TOTAL)),
    )


def _wanted(line: str) -> bool:
    if line.startswith("#"):  # "# HELP name ..." and "# TYPE name ..."
        words = line.split(maxsplit=3)
        return len(words) > 2 and words[2] in _WANTED
    name = line.split("{", 1)[0].split(None, 1)[0] if line.strip() else ""
    return name in _WANTED


def _int_or_none(x: float | None) -> int | None:
    return None if x is None else int(x)


def _one_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def missing_metric_warnings(scrape: Scrape) -> list[str]:
    """perf_analyzer's warnings (on stderr, once a run) for a scrape lacking a GPU metric:
    a server without GPUs gets all four."""
    present = (
        scrape.gpu_utilization,
        scrape.gpu_power_usage,
        scrape.gpu_memory_used_bytes,
        scrape.gpu_memory_total_bytes,
    )
    return [
        f"WARNING: Unable to parse '{name}' metric."
        for name, values in zip(GPU_METRICS, present, strict=True)
        if not values
    ]


def interval_too_short_warning(took_ms: int, interval_ms: int) -> str:
    """perf_analyzer's warning (once a run) when a scrape outlasts --metrics-interval; it
    names `--triton-metrics-interval`, a flag it does not have: ours names the real one."""
    return (
        f"WARNING: Triton metrics endpoint latency ({took_ms}ms) is larger than the querying "
        f"interval ({interval_ms}ms). Please try a larger querying interval via "
        "`--metrics-interval`."
    )


@dataclass(frozen=True)
class ServerMetrics:
    """The scrapes of a window (or of merged windows), and how many failed in it (with the
    last failure's words). perf_analyzer pools the scrapes of a level's merged windows and
    aggregates them once: so do these, in scrape order."""

    scrapes: tuple[Scrape, ...] = ()
    failed: int = 0
    last_error: str = ""

    @classmethod
    def merge(cls, parts: Iterable[ServerMetrics]) -> ServerMetrics:
        parts = list(parts)
        errors = [p.last_error for p in parts if p.last_error]
        return cls(
            tuple(s for p in parts for s in p.scrapes),
            sum(p.failed for p in parts),
            errors[-1] if errors else "",
        )

    # perf_analyzer's aggregates, per GPU uuid, sorted by uuid as its std::map is.
    @property
    def gpu_utilization(self) -> dict[str, float]:
        return average_per_gpu(s.gpu_utilization for s in self.scrapes)

    @property
    def gpu_power_usage(self) -> dict[str, float]:
        return average_per_gpu(s.gpu_power_usage for s in self.scrapes)

    @property
    def gpu_memory_used_bytes(self) -> dict[str, int]:
        return max_per_gpu(s.gpu_memory_used_bytes for s in self.scrapes)

    @property
    def gpu_memory_total_bytes(self) -> dict[str, int]:
        return first_per_gpu(s.gpu_memory_total_bytes for s in self.scrapes)

    # Ours, the CPU's: the same aggregates, of one value a scrape.
    @property
    def cpu_utilization(self) -> float | None:
        return average_per_gpu(_one(s.cpu_utilization) for s in self.scrapes).get("")

    @property
    def cpu_memory_used_bytes(self) -> int | None:
        return max_per_gpu(_one(s.cpu_memory_used_bytes) for s in self.scrapes).get("")

    @property
    def cpu_memory_total_bytes(self) -> int | None:
        # The highest, not the first: Triton reports 0 until its first CPU poll, which a
        # scrape right after the server starts can see.
        return max_per_gpu(_one(s.cpu_memory_total_bytes) for s in self.scrapes).get("")

    @property
    def gpu_count(self) -> int:
        """The GPUs any aggregate names."""
        figures = (
            self.gpu_utilization,
            self.gpu_power_usage,
            self.gpu_memory_used_bytes,
            self.gpu_memory_total_bytes,
        )
        return max(len(f) for f in figures)

    def to_dict(self) -> dict[str, Any]:
        """The aggregates, then the scrapes they come from (the clock of the windows)."""
        return {
            "scrapes": len(self.scrapes),
            "failed_scrapes": self.failed,
            "last_error": self.last_error or None,
            "gpu_utilization": self.gpu_utilization,
            "gpu_power_usage": self.gpu_power_usage,
            "gpu_memory_used_bytes": self.gpu_memory_used_bytes,
            "gpu_memory_total_bytes": self.gpu_memory_total_bytes,
            "cpu_utilization": self.cpu_utilization,
            "cpu_memory_used_bytes": self.cpu_memory_used_bytes,
            "cpu_memory_total_bytes": self.cpu_memory_total_bytes,
            "samples": [s.to_dict() for s in self.scrapes],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServerMetrics:
        return cls(
            tuple(Scrape.from_dict(s) for s in data.get("samples") or []),
            int(data.get("failed_scrapes") or 0),
            str(data.get("last_error") or ""),
        )


def _one(value: float | None) -> dict[str, float]:
    """A CPU figure as a one-entry map, so that it aggregates as a GPU's does."""
    return {} if value is None else {"": value}


def average_per_gpu(maps: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """perf_analyzer's GetMetricAveragePerGPU: per uuid, the sum of its values over the
    scrapes that have one, divided by their count."""
    total: dict[str, float] = {}
    count: dict[str, int] = {}
    for values in maps:
        for uuid, value in values.items():
            total[uuid] = total.get(uuid, 0.0) + value
            count[uuid] = count.get(uuid, 0) + 1
    return {uuid: total[uuid] / count[uuid] for uuid in sorted(total)}


def max_per_gpu(maps: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """perf_analyzer's GetMetricMaxPerGPU."""
    most: dict[str, int] = {}
    for values in maps:
        for uuid, value in values.items():
            most[uuid] = max(most.get(uuid, 0), value)
    return {uuid: most[uuid] for uuid in sorted(most)}


def first_per_gpu(maps: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """perf_analyzer's GetMetricFirstPerGPU: the first value seen of each uuid."""
    first: dict[str, int] = {}
    for values in maps:
        for uuid, value in values.items():
            first.setdefault(uuid, value)
    return {uuid: first[uuid] for uuid in sorted(first)}


def merge_some(parts: Sequence[ServerMetrics | None]) -> ServerMetrics | None:
    """The merge of the windows' metrics there are (None: metrics were not collected)."""
    present = [p for p in parts if p is not None]
    return ServerMetrics.merge(present) if present else None


# -- the URL ---------------------------------------------------------------------------------


def default_metrics_url(server_host: str) -> str:
    """perf_analyzer's --metrics-url when -u is given and --metrics-url is not: the -u host,
    port 8002, /metrics (it cuts -u at its first colon, which breaks an IPv6 address or an
    https:// URL; we take the host as -u's parser reads it)."""
    host = f"[{server_host}]" if ":" in server_host else server_host
    return f"{host}:{METRICS_PORT}{METRICS_PATH}"


def metrics_http_url(url: str) -> str:
    """The URL to fetch for --metrics-url as libcurl reads it under perf_analyzer: without a
    scheme it is http://; raises ValueError naming the flag when it has no usable host or
    port, or another scheme."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep:
        scheme, rest = "http", url.strip()
    if scheme.lower() not in ("http", "https"):
        raise ValueError(
            f"--metrics-url {url!r}: {scheme}:// is not supported (http:// or https://)"
        )
    hostport, slash, path = rest.partition("/")
    if hostport.startswith("["):
        host, _, port = hostport[1:].partition("]")
        port = port[1:] if port.startswith(":") else port
    else:
        host, _, port = hostport.partition(":")
    if not host or (port and (not port.isdigit() or not 0 < int(port) < 65536)):
        raise ValueError(f"--metrics-url {url!r}: expected [http://]HOST[:PORT][/PATH]")
    return f"{scheme.lower()}://{hostport}{slash}{path}"
