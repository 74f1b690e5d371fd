"""The settings of a sweep: what decides what is measured (SweepSettings), where its results
go (Outputs), and the parsing of the values perf_analyzer's flags carry. Pure: the flag
table, the CLI, the Locust side and the results file all build on this."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from analysis.stabiliser import StabilityRule

PROTOCOLS = ("http", "grpc")
DEFAULT_PORTS = {"http": 8000, "grpc": 8001}  # perf_analyzer's default -u per protocol
SECRET_MASK = "***"  # what is written in place of a header value
MEASUREMENT_MODES = ("time_windows", "count_windows")
# How users wait on the network: an OS thread each, blocking (the lightest per request), or
# cooperatively on gevent (thousands of users per process).
CLIENT_IO = ("threads", "gevent")
# Generated input data; perf_analyzer's data files are not taken yet.
INPUT_DATA = ("random", "zero")


@dataclass(frozen=True)
class SweepSettings:
    """Everything that decides what is measured; perf_analyzer's flags map onto these
    fields (analysis/flag_table.py is the table)."""

    model: str
    url: str = "localhost:8000"
    protocol: str = "http"
    model_version: str = ""
    batch_size: int = 1
    concurrency_start: int = 1
    concurrency_end: int = 1
    concurrency_step: int = 1
    measurement_mode: str = "time_windows"
    measurement_interval_ms: int = 5000
    measurement_request_count: int = 50
    stability_pct: float = 10.0
    max_trials: int = 10
    percentile: int | None = None
    latency_threshold_ms: float | None = None
    input_data: str = "random"
    shapes: dict[str, list[int]] = field(default_factory=dict)
    string_length: int = 128
    headers: dict[str, str] = field(default_factory=dict)
    client_io: str = "threads"  # one of CLIENT_IO
    request_timeout_ms: int = 30_000  # a request unanswered this long fails as "timeout"

    def concurrencies(self) -> Iterator[int]:
        """perf_analyzer's levels: START, +STEP, ... while <= END; a lone START (END below it)
        is one level; END 0 goes on until -l stops the sweep."""
        if self.concurrency_end == 0:
            return itertools.count(self.concurrency_start, self.concurrency_step)
        last = max(self.concurrency_start, self.concurrency_end)
        return iter(range(self.concurrency_start, last + 1, self.concurrency_step))

    @property
    def rule(self) -> StabilityRule:
        return StabilityRule(
            stability_pct=self.stability_pct,
            max_trials=self.max_trials,
            percentile=self.percentile,
            latency_threshold_ms=self.latency_threshold_ms,
        )

    @property
    def latency_label(self) -> str:
        """What the run stabilised on: 'avg' or 'p95'."""
        return "avg" if self.percentile is None else f"p{self.percentile}"

    def to_dict(self) -> dict[str, Any]:
        """The settings as results files record them. Header values are credentials more
        often than not: only their names are written."""
        data = asdict(self)
        data["headers"] = {name: SECRET_MASK for name in self.headers}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepSettings:
        return cls(**data)



@dataclass(frozen=True)
class Outputs:
    """Where a sweep writes; not part of what is measured."""

    csv: str | None = None
    json: str | None = None
    report: str | None = None
    verbose_csv: bool = False
    verbose: bool = False
    latency_budget_ms: float | None = None

    def paths(self) -> list[str]:
        """The files a sweep writes."""
        return [p for p in (self.csv, self.json, self.report) if p]


def host_port(url: str) -> tuple[str, int]:
    """'host:port' (an http:// prefix and a trailing slash allowed) into its parts; raises
    ValueError naming the URL when it has no usable port."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "http", url
    if scheme.lower() != "http":
        raise ValueError(f"-u {url!r}: {scheme}:// is not supported yet (plain http:// only)")
    hostport = rest.rstrip("/")
    host, sep, port = hostport.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"-u {url!r}: expected HOST:PORT")
    return host, int(port)


def authority(url: str) -> str:
    """HOST:PORT of a URL, as a Host header and tritonclient take it (IPv6 in brackets)."""
    host, port = host_port(url)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_range(text: str) -> tuple[int, int, int]:
    """perf_analyzer's START[:END[:STEP]]; END defaults to 1 (so a lone START is one level)."""
    parts = str(text).split(":")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if not values or len(values) > 3 or any(v < 0 for v in values):
        raise ValueError(f"--concurrency-range {text!r}: expected START[:END[:STEP]] of integers")
    start, end, step = (values + [1, 1])[:3] if len(values) == 1 else (values + [1])[:3]
    if start < 1 or step < 1:
        raise ValueError(f"--concurrency-range {text!r}: START and STEP must be at least 1")
    return start, end, step


# RFC 9110 section 5.1: a field name is a token; a value is visible ASCII, spaces and tabs
# (obs-text aside), never CR, LF or NUL, which would let a value write headers of its own.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE = re.compile(r"[\x20-\x7e\t]*")


def parse_headers(values: Iterable[str] | None) -> dict[str, str]:
    """`-H NAME:VALUE` (repeatable) into {NAME: VALUE}. Errors name the header, never its
    value (it may be a secret)."""
    headers = {}
    for value in values or []:
        name, sep, content = value.partition(":")
        if not sep or not name.strip():
            raise ValueError("-H: expected NAME:VALUE")
        name, content = name.strip(), content.strip(" \t")
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(
                f"-H {name!r}: a header name is letters, digits and !#$%&'*+-.^_`|~ only"
            )
        if not _HEADER_VALUE.fullmatch(content):
            raise ValueError(
                f"-H {name}: the value may hold only visible ASCII, spaces and tabs "
                "(no CR, LF or NUL)"
            )
        headers[name] = content
    return headers


def headers_from_env(values: Iterable[str] | None, environ: Mapping[str, str]) -> list[str]:
    """`--header-from-env NAME:VARIABLE` (repeatable) into `-H`'s NAME:VALUE form, the value
    read from the environment: a plan, a CronJob or a shell history then holds only the
    variable's name (a Kubernetes Secret fills it). Errors name the variable, never a value."""
    pairs = []
    for value in values or []:
        name, sep, variable = value.partition(":")
        name, variable = name.strip(), variable.strip()
        if not sep or not name or not variable:
            raise ValueError(f"--header-from-env {value!r}: expected NAME:ENV_VARIABLE")
        if variable not in environ:
            raise ValueError(
                f"--header-from-env {name}: the environment variable {variable} is not set"
            )
        pairs.append(f"{name}:{environ[variable]}")
    return pairs


def parse_shapes(values: Sequence[str]) -> dict[str, list[int]]:
    """`--shape NAME:d1,d2` (repeatable) into {NAME: [d1, d2]}."""
    shapes: dict[str, list[int]] = {}
    for value in values:
        name, sep, dims = value.rpartition(":")
        try:
            parsed = [int(d) for d in dims.split(",")]
        except ValueError:
            parsed = []
        if not sep or not name or not parsed or any(d <= 0 for d in parsed):
            raise ValueError(f"--shape {value!r}: expected NAME:d1,d2,... with positive dims")
        shapes[name] = parsed
    return shapes
