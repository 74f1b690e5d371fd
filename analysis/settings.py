"""The settings of a sweep: what decides what is measured (SweepSettings), where its results
go (Outputs), and the parsing of the values perf_analyzer's flags carry. Pure: the flag
table, the CLI, the Locust side and the results file all build on this."""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from analysis.periodic import PeriodicRange
from analysis.server_metrics import DEFAULT_METRICS_INTERVAL_MS
from analysis.stabiliser import StabilityRule

PROTOCOLS = ("http", "grpc")
DEFAULT_PORTS = {"http": 8000, "grpc": 8001}  # perf_analyzer's default -u per protocol
SECRET_MASK = "***"  # what is written in place of a header value
MEASUREMENT_MODES = ("time_windows", "count_windows")
# How users wait on the network: an OS thread each, blocking (the lightest per request), or
# cooperatively on gevent (thousands of users per process).
CLIENT_IO = ("threads", "gevent")
# --input-data: generated data (random, zero), or the data files given (FILE).
INPUT_DATA = ("random", "zero", "file")
# -u's schemes (perf_analyzer hands an HTTP URL to libcurl: https:// is TLS) and their ports.
SCHEME_PORTS = {"http": 80, "https": 443}
# The formats perf_analyzer (libcurl) reads an HTTPS client certificate and key in.
CERT_TYPES = ("PEM", "DER")
# perf_analyzer's --max-threads when --request-rate-range is given (command_line_parser.h).
DEFAULT_RATE_THREADS = 4
# Its --max-threads in concurrency mode: at least this, or the range's END (constants.h).
DEFAULT_MAX_THREADS = 16
# How requests are sent (perf_analyzer's --sync, the default, and --async).
CALLS = ("sync", "async")
# --shared-memory: "none" sends the tensors in the requests; "system" (or "cuda") puts them
# in regions registered with the server (perf_analyzer's values).
SHARED_MEMORY = ("none", "system", "cuda")
# --output-shared-memory-size: bytes per batch element of an output of no fixed size
# (perf_analyzer's 100 KB, command_line_parser.h).
DEFAULT_OUTPUT_SHM_SIZE = 100 * 1024


@dataclass(frozen=True)
class TlsSettings:
    """perf_analyzer's --ssl-* flags, named as its SslOptionsBase names them (the flag is the
    name in dashes). File paths only: a file's contents, a private key's above all, are read
    by the wire when it connects and never kept here or written to a results file.

    gRPC: TLS when ssl_grpc_use_ssl; the server's certificate is always checked, against the
    root certificates file or the system's CAs. HTTP: TLS when the URL is https://, checked
    as libcurl checks it: verify_peer 1 against the CA file (or the system's CAs), 0 not at
    all; verify_host 1 or 2, that the certificate names the URL's host, 0 not."""

    ssl_grpc_use_ssl: bool = False
    ssl_grpc_root_certifications_file: str = ""
    ssl_grpc_private_key_file: str = ""
    ssl_grpc_certificate_chain_file: str = ""
    ssl_https_verify_peer: int = 1
    ssl_https_verify_host: int = 2
    ssl_https_ca_certificates_file: str = ""
    ssl_https_client_certificate_file: str = ""
    ssl_https_client_certificate_type: str = "PEM"
    ssl_https_private_key_file: str = ""
    ssl_https_private_key_type: str = "PEM"

    def given(self, prefix: str) -> list[str]:
        """The flags starting with `prefix` ('--ssl-grpc-') set to other than their default."""
        return [
            flag_name(f.name)
            for f in fields(self)
            if flag_name(f.name).startswith(prefix) and getattr(self, f.name) != f.default
        ]


def flag_name(tls_field: str) -> str:
    """The perf_analyzer flag of a TlsSettings field: ssl_grpc_use_ssl is --ssl-grpc-use-ssl."""
    return "--" + tls_field.replace("_", "-")


@dataclass(frozen=True)
class RateSettings:
    """perf_analyzer's request-rate mode: --request-rate-range, --request-distribution,
    --request-intervals and --max-threads. `start` None is concurrency mode. An intervals
    file is one level at the mean rate its intervals make (start = end = that rate)."""

    start: float | None = None
    end: float = 1.0  # perf_analyzer's {1.0, 1.0, 1.0}; 0 goes on until -l
    step: float = 1.0
    distribution: str = "constant"  # constant or poisson
    intervals_file: str = ""  # intervals in µs, one a line, looped
    # Request-rate mode: the users that can hold requests in flight. Concurrency mode with
    # --async: the OS threads the users' requests wait in (perf_analyzer's default there is
    # max(DEFAULT_MAX_THREADS, END), filled in by the flag table).
    max_threads: int = DEFAULT_RATE_THREADS

    def rates(self) -> Iterator[float]:
        """perf_analyzer's linear search: START, then +STEP (the float sum, as its do-while
        adds it) while <= END; a lone START is one level; END 0 goes on until -l."""
        rate = self.start or 1.0
        while True:
            yield rate
            rate += self.step
            if self.intervals_file or (self.end != 0 and rate > self.end):
                return


# perf_analyzer's sequence defaults (command_line_parser.h): base length, its variation in
# percent, the number of sequences in request-rate mode, and the correlation IDs, which
# start at 1 and run over UINT32_MAX values.
DEFAULT_SEQUENCE_LENGTH = 20
DEFAULT_SEQUENCE_VARIATION = 20.0
DEFAULT_NUM_OF_SEQUENCES = 4
DEFAULT_SEQUENCE_ID_RANGE = 2**32 - 1


@dataclass(frozen=True)
class SequenceSettings:
    """perf_analyzer's flags for sequence (stateful) models: --sequence-length (and whether
    it was given: with data files a sequence otherwise runs its stream's length),
    --sequence-length-variation, --sequence-id-range (IDs id_start .. id_start+id_range-1,
    wrapping), --num-of-sequences (request-rate mode) and --serial-sequences. Ignored for a
    model without sequence batching, as perf_analyzer ignores them."""

    length: int = DEFAULT_SEQUENCE_LENGTH
    length_specified: bool = False
    length_variation: float = DEFAULT_SEQUENCE_VARIATION
    id_start: int = 1
    id_range: int = DEFAULT_SEQUENCE_ID_RANGE
    num_of_sequences: int = DEFAULT_NUM_OF_SEQUENCES
    serial: bool = False


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
    input_data: str = "random"  # one of INPUT_DATA
    input_files: list[str] = field(default_factory=list)  # JSON files, or one directory
    shapes: dict[str, list[int]] = field(default_factory=dict)
    string_length: int = 128
    headers: dict[str, str] = field(default_factory=dict)
    client_io: str = "threads"  # one of CLIENT_IO
    request_timeout_ms: int = 30_000  # a request unanswered this long fails as "timeout"
    tls: TlsSettings = field(default_factory=TlsSettings)
    rate: RateSettings = field(default_factory=RateSettings)
    # perf_analyzer's search over the range: "linear" (START, +STEP, ...) or "binary"
    # (--binary-search: bisect it for the highest level under -l).
    search: str = "linear"
    # "sync": a user's request waits in an OS thread of its own (perf_analyzer's default);
    # "async" (--async): the users' requests wait on the event loops of at most
    # rate.max_threads OS threads.
    calls: str = "sync"
    sync_forced: bool = False  # --sync given: a sequence model then stays synchronous
    # --streaming: gRPC bidirectional streaming, one stream per user (decoupled models).
    streaming: bool = False
    # --collect-metrics: Triton's Prometheus endpoint (metrics_url, as perf_analyzer's
    # --metrics-url spells it; filled from -u's host when not given) scraped every
    # metrics_interval_ms while each level runs (analysis/server_metrics.py).
    collect_metrics: bool = False
    metrics_url: str = ""
    metrics_interval_ms: int = DEFAULT_METRICS_INTERVAL_MS
    # --shared-memory system: inputs and outputs in shared-memory regions registered with
    # the server (one of SHARED_MEMORY); --output-shared-memory-size sizes the outputs of no
    # fixed size, per batch element.
    shared_memory: str = "none"
    output_shared_memory_size: int = DEFAULT_OUTPUT_SHM_SIZE
    sequence: SequenceSettings = field(default_factory=SequenceSettings)
    # --periodic-concurrency-range with --request-period: perf_analyzer's periodic mode
    # (analysis/periodic.py), instead of levels; None for the others.
    periodic: PeriodicRange | None = None

    @property
    def uses_tls(self) -> bool:
        """Whether the load and the control plane speak TLS: an https:// URL over HTTP (as
        libcurl, under perf_analyzer, reads it), --ssl-grpc-use-ssl over gRPC."""
        return self.tls.ssl_grpc_use_ssl if self.protocol == "grpc" else is_https(self.url)

    @property
    def rate_mode(self) -> bool:
        """Requests sent at a rate (perf_analyzer's request-rate or custom-intervals mode)."""
        return self.rate.start is not None

    def concurrencies(self) -> Iterator[int]:
        """perf_analyzer's levels: START, +STEP, ... while <= END; a lone START (END below it)
        is one level; END 0 goes on until -l stops the sweep."""
        if self.concurrency_end == 0:
            return itertools.count(self.concurrency_start, self.concurrency_step)
        last = max(self.concurrency_start, self.concurrency_end)
        return iter(range(self.concurrency_start, last + 1, self.concurrency_step))

    def for_sequence_model(self) -> SweepSettings:
        """The settings once the model is known to keep sequences: perf_analyzer then sends
        asynchronously unless --sync was given (perf_analyzer.cc), its --max-threads
        default with it. In concurrency mode only: at a request rate its async contexts
        wait for a free sequence, which our async pool would not, so there the users stay
        synchronous and --async is refused. Raises ValueError in one line."""
        if self.rate_mode:
            if self.calls == "async":
                raise ValueError(
                    "--async at a request rate with a sequence model: not supported yet (a "
                    "sequence's requests would overlap); leave out --async"
                )
            return self
        if self.sync_forced:
            return self
        if self.concurrency_end == 0:  # perf_analyzer's words
            raise ValueError(
                "The 'end' concurrency can not be 0 for sequence models when using "
                "asynchronous API."
            )
        if self.calls == "async":
            return self
        threads = (
            1
            if self.client_io == "gevent"
            else max(DEFAULT_MAX_THREADS, self.concurrency_start, self.concurrency_end)
        )
        return replace(self, calls="async", rate=replace(self.rate, max_threads=threads))

    @property
    def rule(self) -> StabilityRule:
        return StabilityRule(
            stability_pct=self.stability_pct,
            max_trials=self.max_trials,
            percentile=self.percentile,
            latency_threshold_ms=self.latency_threshold_ms,
            async_calls=self.calls == "async",
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
        data = dict(data)
        tls = data.pop("tls", None)  # a results file from before TLS has none: plain
        rate = data.pop("rate", None)  # nor one from before request-rate mode a rate
        sequence = data.pop("sequence", None)  # nor one from before sequence models
        periodic = data.pop("periodic", None)
        return cls(
            **data,
            tls=TlsSettings(**tls) if tls else TlsSettings(),
            rate=RateSettings(**rate) if rate else RateSettings(),
            sequence=SequenceSettings(**sequence) if sequence else SequenceSettings(),
            periodic=PeriodicRange(**periodic) if periodic else None,
        )


@dataclass(frozen=True)
class Outputs:
    """Where a sweep writes; not part of what is measured."""

    csv: str | None = None
    json: str | None = None
    report: str | None = None
    verbose_csv: bool = False
    verbose: bool = False
    latency_budget_ms: float | None = None
    profile_export: str | None = None  # perf_analyzer's --profile-export-file

    def paths(self) -> list[str]:
        """The files a sweep writes."""
        return [p for p in (self.csv, self.json, self.report, self.profile_export) if p]


def host_port(url: str) -> tuple[str, int]:
    """'HOST:PORT', or 'http://' / 'https://' with HOST[:PORT] (the scheme's port when left
    out; a trailing slash allowed), into its parts; raises ValueError naming the URL when it
    has no usable host and port."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower() if sep else ""
    if sep and scheme not in SCHEME_PORTS:
        raise ValueError(f"-u {url!r}: {scheme}:// is not supported (http:// or https://)")
    hostport = rest.rstrip("/") if sep else url.rstrip("/")
    if scheme and (":" not in hostport or hostport.endswith("]")):
        host, port = hostport, str(SCHEME_PORTS[scheme])
    else:
        host, colon, port = hostport.rpartition(":")
        if not colon:
            host = ""
    host = host.strip("[]")
    if not host or "/" in host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"-u {url!r}: expected HOST:PORT")
    return host, int(port)


def is_https(url: str) -> bool:
    """Whether -u asks for TLS over HTTP (https://...)."""
    scheme, sep, _ = url.partition("://")
    return bool(sep) and scheme.lower() == "https"


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


def parse_rate_range(text: str) -> tuple[float, float, float]:
    """perf_analyzer's --request-rate-range START[:END[:STEP]], floats; END and STEP default
    to 1.0, as its {1.0, 1.0, 1.0}."""
    parts = str(text).split(":")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if not values or len(values) > 3 or any(not v >= 0 or v == float("inf") for v in values):
        raise ValueError(
            f"--request-rate-range {text!r}: expected START[:END[:STEP]] of numbers, none negative"
        )
    start, end, step = (values + [1.0, 1.0])[:3]
    if start <= 0:
        raise ValueError(f"--request-rate-range {text!r}: START must be above 0")
    if step <= 0:
        raise ValueError(f"--request-rate-range {text!r}: STEP must be above 0")
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


def parse_input_data(
    values: Sequence[str], is_path: Callable[[str], bool] = os.path.exists
) -> tuple[str, list[str]]:
    """perf_analyzer's --input-data (repeatable) into (random, zero or file; the paths). A
    value that names an existing file or directory is one, whatever its name (perf_analyzer
    checks that first); 'random' is the default and adds nothing."""
    kind, paths = "random", []
    for value in values:
        if is_path(value):
            paths.append(value)
        elif value == "zero":
            kind = "zero"
        elif value != "random":
            raise ValueError(
                f"--input-data {value!r}: no such file or directory (expected random, zero, "
                "a JSON file or a directory)"
            )
    if paths and kind == "zero":
        raise ValueError(
            "--input-data zero: cannot be combined with data files (perf_analyzer refuses too)"
        )
    return ("file" if paths else kind), paths


def parse_sequence_id_range(text: str) -> tuple[int, int]:
    """perf_analyzer's --sequence-id-range START[:END] (END excluded) into (start, how many
    IDs); without END the IDs run over UINT32_MAX values. Its words for its refusals; ID 0,
    which Triton reads as no sequence, is refused rather than moved to 1 with a warning."""
    parts = str(text).strip().split(":")
    if len(parts) > 2:
        raise ValueError(
            "Failed to parse --sequence-id-range. The value does not match <start:end>."
        )
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise ValueError(
            f"--sequence-id-range {text!r}: expected START[:END] of whole numbers"
        ) from None
    if any(v < 0 for v in values):
        raise ValueError("Failed to parse --sequence-id-range. The range values must be >= 0.")
    start = values[0]
    if len(values) == 2 and values[1] <= start:
        raise ValueError(
            "Failed to parse --sequence-id-range. The 'end' value must be greater than "
            "'start' value."
        )
    if start == 0:
        raise ValueError(
            f"--sequence-id-range {text!r}: ID 0 means no sequence to Triton (perf_analyzer "
            "warns and starts at 1); start at 1 or above"
        )
    return start, (values[1] - start if len(values) == 2 else DEFAULT_SEQUENCE_ID_RANGE)


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


def check_tls(
    tls: TlsSettings,
    protocol: str,
    url: str,
    is_file: Callable[[str], bool] = os.path.isfile,
) -> None:
    """Raises ValueError, one line naming the flag, for TLS settings that cannot be what was
    meant: perf_analyzer ignores a flag of the other protocol, or a certificate without TLS,
    and would send in the clear what the user meant to encrypt."""
    grpc_given, https_given = tls.given("--ssl-grpc-"), tls.given("--ssl-https-")
    if protocol == "grpc":
        if https_given:
            raise ValueError(
                f"{https_given[0]}: an HTTPS flag; over gRPC, TLS is --ssl-grpc-use-ssl "
                "with the --ssl-grpc-* files"
            )
        if is_https(url):
            raise ValueError(
                f"-u {url!r}: gRPC takes HOST:PORT (perf_analyzer cannot resolve an https:// "
                "URL); for TLS over gRPC give --ssl-grpc-use-ssl"
            )
        if not tls.ssl_grpc_use_ssl and grpc_given:
            raise ValueError(f"{grpc_given[0]}: needs --ssl-grpc-use-ssl")
        if bool(tls.ssl_grpc_private_key_file) != bool(tls.ssl_grpc_certificate_chain_file):
            given, missing = (
                ("--ssl-grpc-private-key-file", "--ssl-grpc-certificate-chain-file")
                if tls.ssl_grpc_private_key_file
                else ("--ssl-grpc-certificate-chain-file", "--ssl-grpc-private-key-file")
            )
            raise ValueError(f"{given}: needs {missing} too (a client certificate is the pair)")
    else:
        if grpc_given:
            raise ValueError(
                f"{grpc_given[0]}: a gRPC flag; over HTTP, TLS is an https:// URL "
                "(-u https://HOST:PORT) with the --ssl-https-* flags"
            )
        if https_given and not is_https(url):
            raise ValueError(f"{https_given[0]}: needs an https:// URL (-u https://HOST:PORT)")
        if tls.ssl_https_verify_peer not in (0, 1):
            raise ValueError(
                f"--ssl-https-verify-peer {tls.ssl_https_verify_peer}: expected 0 or 1"
            )
        if tls.ssl_https_verify_host not in (0, 1, 2):
            raise ValueError(
                f"--ssl-https-verify-host {tls.ssl_https_verify_host}: expected 0, 1 or 2"
            )
        for name in ("ssl_https_client_certificate_type", "ssl_https_private_key_type"):
            if getattr(tls, name) not in CERT_TYPES:
                raise ValueError(f"{flag_name(name)} {getattr(tls, name)!r}: expected PEM or DER")
        if tls.ssl_https_private_key_file and not tls.ssl_https_client_certificate_file:
            raise ValueError(
                "--ssl-https-private-key-file: needs --ssl-https-client-certificate-file "
                "(the certificate the key belongs to)"
            )
    for f in fields(tls):
        path = getattr(tls, f.name)
        if f.name.endswith("_file") and path and not is_file(path):
            raise ValueError(f"{flag_name(f.name)} {path!r}: no such file")
