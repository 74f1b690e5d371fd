"""The flag table: every perf_analyzer flag we take, its Locust option, and the settings
field it fills. The one place this mapping lives: `triton-locust profile` builds its parser
from the perf_analyzer spellings (triton_locust/pa_flags.py), the locustfile registers the
Locust spellings (triton_user/options.py), and both turn parsed values into the same
SweepSettings and Outputs through `from_values`."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

from analysis.pacer import DISTRIBUTIONS, IntervalsPacer, read_intervals
from analysis.periodic import periodic_from_values
from analysis.server_metrics import (
    DEFAULT_METRICS_INTERVAL_MS,
    default_metrics_url,
    metrics_http_url,
)
from analysis.settings import (
    CERT_TYPES,
    CLIENT_IO,
    DEFAULT_MAX_THREADS,
    DEFAULT_PORTS,
    DEFAULT_SEQUENCE_ID_RANGE,
    DEFAULT_SEQUENCE_LENGTH,
    MEASUREMENT_MODES,
    PROTOCOLS,
    SHARED_MEMORY,
    Outputs,
    RateSettings,
    SequenceSettings,
    SweepSettings,
    TlsSettings,
    check_tls,
    headers_from_env,
    host_port,
    parse_headers,
    parse_input_data,
    parse_range,
    parse_rate_range,
    parse_sequence_id_range,
    parse_shapes,
)

_TRUE_WORDS, _FALSE_WORDS = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def bool_word(text: str) -> bool:
    """true/false (1/0, yes/no, on/off) after a switch that takes one."""
    word = text.strip().lower()
    if word not in _TRUE_WORDS + _FALSE_WORDS:
        raise argparse.ArgumentTypeError(f"{text!r}: expected true or false")
    return word in _TRUE_WORDS


@dataclass(frozen=True)
class Flag:
    pa: tuple[str, ...]  # perf_analyzer's spellings (and `triton-locust profile`'s)
    locust: str | None  # the option on Locust's command line and web UI; None: not there
    dest: str
    help: str
    default: Any = None
    type: Callable[[str], Any] | None = str
    action: str = "store"
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    secret: bool = False  # its values are credentials: masked in the web UI, never written
    # A switch that may also be followed by true or false: perf_analyzer documents
    # `--ssl-grpc-use-ssl <bool>`, so command lines copied from its help must parse.
    bool_value: bool = False

    def argparse_kwargs(self, dest: str) -> dict[str, Any]:
        """What argparse's add_argument takes for this flag, under `dest`."""
        if self.bool_value:
            return {
                "dest": dest,
                "help": self.help,
                "action": "store",
                "nargs": "?",
                "const": True,
                "default": self.default,
                "type": bool_word,
                "metavar": "true|false",
            }
        kwargs: dict[str, Any] = {"dest": dest, "help": self.help, "action": self.action}
        if self.action != "store_true":
            kwargs["metavar"] = self.metavar
            if self.type is not None:
                kwargs["type"] = self.type
            if self.choices:
                kwargs["choices"] = self.choices
        kwargs["default"] = self.default
        return kwargs


FLAGS: tuple[Flag, ...] = (
    Flag(
        ("-m", "--model-name"), "--model", "model", "model to profile (required)", metavar="MODEL"
    ),
    Flag(
        ("-x", "--model-version"),
        "--model-version",
        "model_version",
        "model version; default: the server's choice",
        default="",
    ),
    Flag(
        ("-u", "--url"),
        "--triton-url",
        "url",
        "server HOST:PORT (https://HOST[:PORT]: HTTP over TLS); default localhost:8000 for "
        "HTTP, localhost:8001 for gRPC",
    ),
    Flag(
        ("-i", "--protocol"),
        "--protocol",
        "protocol",
        "http or grpc",
        default="http",
        type=str.lower,
        choices=PROTOCOLS,
    ),
    Flag(
        ("-b", "--batch-size"),
        "--batch-size",
        "batch_size",
        "batch size of each request",
        default=1,
        type=int,
    ),
    Flag(
        ("--concurrency-range",),
        "--concurrency-range",
        "concurrency_range",
        "START[:END[:STEP]] concurrency levels (END 0: until -l is reached)",
        default=None,
        metavar="START:END:STEP",
    ),
    Flag(
        ("--request-rate-range",),
        "--request-rate-range",
        "request_rate_range",
        "START[:END[:STEP]] request rates per second, floats (END 0: until -l is reached); "
        "instead of --concurrency-range",
        metavar="START:END:STEP",
    ),
    Flag(
        ("--request-distribution",),
        "--request-distribution",
        "request_distribution",
        "constant or poisson: how the requests of a rate are spread in time",
        default="constant",
        type=str.lower,
        choices=DISTRIBUTIONS,
    ),
    Flag(
        ("--request-intervals",),
        "--request-intervals",
        "request_intervals",
        "FILE of intervals in usec between requests, one a line, looped (one level at their "
        "rate; instead of either range)",
        metavar="FILE",
    ),
    Flag(
        ("--periodic-concurrency-range",),
        "--periodic-concurrency-range",
        "periodic_concurrency_range",
        "START:END[:STEP]: START requests, then STEP more each time every request sent has "
        "had --request-period responses, END in all; each request sent once, on a stream of "
        "its own (needs --streaming and --profile-export-file, the one result: no windows)",
        metavar="START:END:STEP",
    ),
    Flag(
        ("--request-period",),
        "--request-period",
        "request_period",
        "with --periodic-concurrency-range: the responses each request must have had before "
        "STEP more are sent (default 10)",
        type=int,
        metavar="N",
    ),
    Flag(
        ("-a", "--async"),
        "--async",
        "async_calls",
        "the requests in flight wait on the event loops of at most --max-threads OS threads, "
        "not in a thread each; at a request rate each request leaves at its time however "
        "many are in flight",
        default=False,
        type=None,
        action="store_true",
    ),
    Flag(
        ("--streaming",),
        "--streaming",
        "streaming",
        "gRPC bidirectional streaming: one stream per user, each request's responses read "
        "until its final one (decoupled models); implies --async, as in perf_analyzer",
        default=False,
        type=None,
        action="store_true",
    ),
    Flag(
        ("--sync",),
        "--sync",
        "sync_calls",
        "a thread per request in flight (the default; perf_analyzer's switch, refused with "
        "--async)",
        default=False,
        type=None,
        action="store_true",
    ),
    Flag(
        ("--max-threads",),
        "--max-threads",
        "max_threads",
        "request-rate mode: the users (threads) that can hold requests in flight; a request "
        "due while all are busy leaves late (default 4). --async: the OS threads the requests "
        "wait in (default 4 at a rate; with --concurrency-range 16, or END if above)",
        type=int,
        metavar="N",
    ),
    Flag(
        ("-p", "--measurement-interval"),
        "--measurement-interval",
        "measurement_interval_ms",
        "time window in msec (time_windows mode)",
        default=5000,
        type=int,
    ),
    Flag(
        ("--measurement-mode",),
        "--measurement-mode",
        "measurement_mode",
        "time_windows or count_windows",
        default="time_windows",
        choices=MEASUREMENT_MODES,
    ),
    Flag(
        ("--measurement-request-count",),
        "--measurement-request-count",
        "measurement_request_count",
        "minimum requests per window (count_windows mode)",
        default=50,
        type=int,
    ),
    Flag(
        ("-s", "--stability-percentage"),
        "--stability-percentage",
        "stability_pct",
        "allowed spread, in percent, of throughput and latency over 3 windows",
        default=10.0,
        type=float,
    ),
    Flag(
        ("-r", "--max-trials"),
        "--max-trials",
        "max_trials",
        "windows measured at most per level",
        default=10,
        type=int,
    ),
    Flag(
        ("--percentile",),
        "--percentile",
        "percentile",
        "stabilise on this latency percentile (1..99) instead of the average",
        type=int,
    ),
    Flag(
        ("-l", "--latency-threshold"),
        "--latency-threshold",
        "latency_threshold_ms",
        "stop the sweep when latency reaches this many msec (0: no limit)",
        default=0.0,
        type=float,
    ),
    Flag(
        ("--binary-search",),
        "--binary-search",
        "binary_search",
        "bisect the range (START and END, END > 0) for the highest level under -l; STEP is "
        "the precision",
        default=False,
        type=None,
        action="store_true",
    ),
    Flag(
        ("--input-data",),
        "--input-data",
        "input_data",
        "random, zero, or perf_analyzer's data: a JSON FILE of steps sent round-robin "
        "(repeatable: their steps add up; validation_data checks the outputs) or a DIRECTORY "
        "of a file per input; a Locust worker reads the same path",
        default=None,
        action="append",
        metavar="random|zero|PATH",
    ),
    Flag(
        ("--shape",),
        "--shape",
        "shape",
        "NAME:d1,d2 for an input with dynamic dims (repeatable)",
        default=None,
        action="append",
        metavar="NAME:DIMS",
    ),
    Flag(
        ("--string-length",),
        "--string-length",
        "string_length",
        "length of random strings for BYTES inputs",
        default=128,
        type=int,
    ),
    Flag(
        ("--sequence-length",),
        "--sequence-length",
        "sequence_length",
        "sequence models: the base number of requests of a sequence, varied by "
        "--sequence-length-variation (default 20; with --input-data streams: each stream's "
        "length)",
        type=int,
        metavar="N",
    ),
    Flag(
        ("--sequence-length-variation",),
        "--sequence-length-variation",
        "sequence_length_variation",
        "sequence models: each sequence's length is within +/- this percent of --sequence-length",
        default=20.0,
        type=float,
        metavar="PERCENT",
    ),
    Flag(
        ("--sequence-id-range",),
        "--sequence-id-range",
        "sequence_id_range",
        "sequence models: correlation IDs from START up to END (excluded), wrapping; no END: "
        "UINT32_MAX IDs from START (default 1)",
        metavar="START[:END]",
    ),
    Flag(
        ("--num-of-sequences",),
        "--num-of-sequences",
        "num_of_sequences",
        "sequence models in request-rate mode: the sequences the paced requests are spread over",
        default=4,
        type=int,
        metavar="N",
    ),
    Flag(
        ("--serial-sequences",),
        "--serial-sequences",
        "serial_sequences",
        "sequence models in request-rate mode: at most one request in flight per sequence, "
        "each user's sequences taken in turn (not at random)",
        default=False,
        type=None,
        action="store_true",
    ),
    Flag(
        ("--shared-memory",),
        "--shared-memory",
        "shared_memory",
        "none, or system: inputs and outputs in shared-memory regions registered with the "
        "server, which must run on this machine (removed when the sweep ends, however it "
        "ends; one process, no Locust workers); cuda is not supported yet",
        default="none",
        type=str.lower,
        choices=SHARED_MEMORY,
    ),
    Flag(
        ("--output-shared-memory-size",),
        "--output-shared-memory-size",
        "output_shared_memory_size",
        "with --shared-memory: bytes per batch element of the region of an output of no fixed "
        "size (BYTES, dynamic dims; default 102400)",
        type=int,
        metavar="BYTES",
    ),
    Flag(
        ("-H",),
        "--header",
        "header",
        "HTTP header / gRPC metadata 'NAME:VALUE' (repeatable)",
        default=None,
        action="append",
        metavar="HEADER",
        secret=True,
    ),
    Flag(
        ("--header-from-env",),
        "--header-from-env",
        "header_from_env",
        "like -H, the value read from an environment variable: 'NAME:ENV_VARIABLE' "
        "(repeatable; for plans, CronJobs and Secrets)",
        default=None,
        action="append",
        metavar="NAME:VAR",
    ),
    Flag(
        ("-f", "--filename"),
        "--results-csv",
        "csv",
        "write perf_analyzer's CSV here",
        metavar="FILE",
    ),
    Flag(
        ("--verbose-csv",),
        "--verbose-csv",
        "verbose_csv",
        "add perf_analyzer's extra CSV columns",
        default=False,
        type=None,
        action="store_true",
    ),
    Flag(
        ("--collect-metrics",),
        "--collect-metrics",
        "collect_metrics",
        "scrape Triton's Prometheus metrics during each level: GPU utilisation, power and "
        "memory per GPU, CPU utilisation and memory (console, JSON, report; CSV with "
        "--verbose-csv)",
        default=False,
        type=None,
        action="store_true",
    ),
    Flag(
        ("--metrics-url",),
        "--metrics-url",
        "metrics_url",
        "with --collect-metrics: the metrics endpoint [http://]HOST:PORT/PATH (default: -u's "
        "host, port 8002, /metrics)",
        metavar="URL",
    ),
    Flag(
        ("--metrics-interval",),
        "--metrics-interval",
        "metrics_interval_ms",
        "with --collect-metrics: msec between scrapes of the metrics endpoint (default 1000)",
        type=int,
        metavar="MSEC",
    ),
    Flag(
        ("--json",),
        "--results-json",
        "json",
        "write every level in full (JSON) here",
        metavar="FILE",
    ),
    Flag(
        ("--report",),
        "--results-report",
        "report",
        "write the HTML report here (default: next to -f or --json)",
        metavar="FILE",
    ),
    Flag(
        ("--profile-export-file",),
        "--profile-export-file",
        "profile_export",
        "write perf_analyzer's profile export here (JSON: every request's timestamps and each "
        "level's window boundaries); the path must not exist yet",
        metavar="FILE",
    ),
    Flag(
        ("--latency-budget",),
        "--latency-budget",
        "latency_budget_ms",
        "latency budget in msec for the report's recommendation",
        type=float,
    ),
    Flag(
        ("--client-io",),
        "--client-io",
        "client_io",
        "threads (an OS thread per user: lightest per request) or gevent (many thousand users)",
        default="threads",
        choices=CLIENT_IO,
    ),
    Flag(
        ("--request-timeout-ms",),
        "--request-timeout-ms",
        "request_timeout_ms",
        "a request unanswered this many msec fails as a timeout; its connection is reopened",
        default=30_000,
        type=int,
    ),
    Flag(
        ("--ssl-grpc-use-ssl",),
        "--ssl-grpc-use-ssl",
        "ssl_grpc_use_ssl",
        "gRPC over TLS (perf_analyzer's bare switch; 'true' or 'false' may follow)",
        default=False,
        type=None,
        action="store_true",
        bool_value=True,
    ),
    Flag(
        ("--ssl-grpc-root-certifications-file",),
        "--ssl-grpc-root-certifications-file",
        "ssl_grpc_root_certifications_file",
        "PEM file of the CAs the server's certificate is checked against (default: the system's)",
        metavar="FILE",
    ),
    Flag(
        ("--ssl-grpc-private-key-file",),
        "--ssl-grpc-private-key-file",
        "ssl_grpc_private_key_file",
        "PEM file of the client's private key (mutual TLS, with the chain below)",
        metavar="FILE",
    ),
    Flag(
        ("--ssl-grpc-certificate-chain-file",),
        "--ssl-grpc-certificate-chain-file",
        "ssl_grpc_certificate_chain_file",
        "PEM file of the client's certificate chain (mutual TLS)",
        metavar="FILE",
    ),
    Flag(
        ("--ssl-https-verify-peer",),
        "--ssl-https-verify-peer",
        "ssl_https_verify_peer",
        "https:// URL: 1 checks the server's certificate against the CAs, 0 does not "
        "(libcurl's CURLOPT_SSL_VERIFYPEER)",
        default=1,
        type=int,
    ),
    Flag(
        ("--ssl-https-verify-host",),
        "--ssl-https-verify-host",
        "ssl_https_verify_host",
        "https:// URL: 1 or 2 checks that the certificate names the URL's host, 0 does not "
        "(libcurl's CURLOPT_SSL_VERIFYHOST)",
        default=2,
        type=int,
    ),
    Flag(
        ("--ssl-https-ca-certificates-file",),
        "--ssl-https-ca-certificates-file",
        "ssl_https_ca_certificates_file",
        "https:// URL: the CA bundle (PEM) the server's certificate is checked against "
        "(default: the system's)",
        metavar="FILE",
    ),
    Flag(
        ("--ssl-https-client-certificate-file",),
        "--ssl-https-client-certificate-file",
        "ssl_https_client_certificate_file",
        "https:// URL: the client certificate (mutual TLS); its key too, unless the key file "
        "is given",
        metavar="FILE",
    ),
    Flag(
        ("--ssl-https-client-certificate-type",),
        "--ssl-https-client-certificate-type",
        "ssl_https_client_certificate_type",
        "PEM or DER: the client certificate's format",
        default="PEM",
        type=str.upper,
        choices=CERT_TYPES,
    ),
    Flag(
        ("--ssl-https-private-key-file",),
        "--ssl-https-private-key-file",
        "ssl_https_private_key_file",
        "https:// URL: the client certificate's private key",
        metavar="FILE",
    ),
    Flag(
        ("--ssl-https-private-key-type",),
        "--ssl-https-private-key-type",
        "ssl_https_private_key_type",
        "PEM or DER: the private key's format",
        default="PEM",
        type=str.upper,
        choices=CERT_TYPES,
    ),
    Flag(
        ("-v", "--verbose"),
        "--verbose-windows",
        "verbose",
        "print each window as it is measured",
        default=False,
        type=None,
        action="store_true",
    ),
)

# perf_analyzer flags we know and do not take yet: a clear word instead of "unrecognized".
NOT_YET: tuple[str, ...] = (
    "--request-count",
    "--warmup-request-count",
    "--service-kind",
    "--bls-composing-models",
)


def from_values(get: Callable[[str], Any]) -> tuple[SweepSettings, Outputs]:
    """Checked settings from parsed values, `get(dest)` giving each; raises ValueError with a
    one-line message naming the bad flag."""
    model = get("model")
    if not model:
        raise ValueError("-m/--model-name is required")
    protocol = str(get("protocol")).lower()
    _one_of("-i/--protocol", protocol, PROTOCOLS)
    _one_of("--measurement-mode", get("measurement_mode"), MEASUREMENT_MODES)
    _one_of("--client-io", get("client_io"), CLIENT_IO)
    rate = _rate(get)
    periodic = periodic_from_values(get)  # its rules before the other modes' (perf_analyzer's)
    concurrency = get("concurrency_range")
    if rate.start is not None and concurrency not in (None, ""):
        raise ValueError(
            "--concurrency-range and --request-rate-range (or --request-intervals): "
            "one load mode at a time"
        )
    start, end, step = parse_range(concurrency if concurrency not in (None, "") else "1")
    range_end = end  # as given: binary search checks it
    if 0 < end < start:  # a lone START is one level (perf_analyzer): record what will run
        end = start
    threshold = float(get("latency_threshold_ms") or 0)
    if threshold < 0:  # with -l -5 every level would be over it, and nothing reported
        raise ValueError(f"-l/--latency-threshold {threshold:g}: must not be negative (0: none)")
    latency_threshold = threshold or None
    if end == 0 and latency_threshold is None:
        raise ValueError("--concurrency-range with END 0 needs -l/--latency-threshold")
    if rate.start is not None and rate.end == 0 and latency_threshold is None:
        raise ValueError("--request-rate-range with END 0 needs -l/--latency-threshold")
    binary = bool(get("binary_search"))
    if binary:
        _check_binary_search(rate, start, range_end, latency_threshold)
    streaming = _streaming(get, protocol)
    calls = _calls(get, streaming)
    if calls == "async" and get("max_threads") in (None, "") and rate.start is None:
        # perf_analyzer's default in concurrency mode: 16, or the range's END as given (at a
        # rate it keeps 4); gevent's users all wait on Locust's own loop, one thread.
        threads = 1 if get("client_io") == "gevent" else max(DEFAULT_MAX_THREADS, range_end)
        rate = replace(rate, max_threads=threads)
    percentile = get("percentile")
    if percentile is not None and percentile != -1 and not 1 <= percentile <= 99:
        raise ValueError(f"--percentile {percentile}: must be in 1..99")
    _positive("-p/--measurement-interval", get("measurement_interval_ms"))
    _positive("--measurement-request-count", get("measurement_request_count"))
    _positive("-r/--max-trials", get("max_trials"))
    _positive("-b/--batch-size", get("batch_size"))
    _positive("--string-length", get("string_length"))
    _positive("--request-timeout-ms", get("request_timeout_ms"))
    if get("stability_pct") < 0:
        raise ValueError("-s/--stability-percentage must not be negative")
    budget = get("latency_budget_ms")
    if budget is not None and float(budget) <= 0:
        raise ValueError(f"--latency-budget {float(budget):g}: must be above 0 msec")
    input_data, input_files = parse_input_data(_listed(get("input_data")))
    shapes = parse_shapes(get("shape") or [])
    url = get("url") or f"localhost:{DEFAULT_PORTS[protocol]}"
    host_port(url)  # a URL without a usable port is said here, not by a traceback later
    tls = _tls(get)
    check_tls(tls, protocol, url)
    settings = SweepSettings(
        model=model,
        url=url,
        protocol=protocol,
        model_version=get("model_version") or "",
        batch_size=get("batch_size"),
        concurrency_start=start,
        concurrency_end=end,
        concurrency_step=step,
        measurement_mode=get("measurement_mode"),
        measurement_interval_ms=get("measurement_interval_ms"),
        measurement_request_count=get("measurement_request_count"),
        stability_pct=get("stability_pct"),
        max_trials=get("max_trials"),
        percentile=None if percentile in (None, -1) else percentile,
        latency_threshold_ms=latency_threshold,
        input_data=input_data,
        input_files=input_files,
        shapes=shapes,
        string_length=get("string_length"),
        headers=parse_headers(
            (get("header") or []) + headers_from_env(get("header_from_env"), os.environ)
        ),
        client_io=get("client_io"),
        request_timeout_ms=get("request_timeout_ms"),
        tls=tls,
        rate=rate,
        search="binary" if binary else "linear",
        calls=calls,
        sync_forced=bool(get("sync_calls")),
        streaming=streaming,
        periodic=periodic,
        **_metrics(get, url),
        **_shared_memory(get),
        sequence=_sequence(get, rate, max(start, range_end)),
    )
    outputs = Outputs(
        csv=get("csv"),
        json=get("json"),
        report=get("report"),
        verbose_csv=bool(get("verbose_csv")),
        verbose=bool(get("verbose")),
        latency_budget_ms=get("latency_budget_ms"),
        profile_export=_new_path("--profile-export-file", get("profile_export")),
    )
    return settings, outputs


def _new_path(name: str, path: str | None) -> str | None:
    """perf_analyzer refuses an export path that already exists (a file or a folder)."""
    if not path:
        return None
    if os.path.lexists(path):
        raise ValueError(f"{name} {path}: the path must not already exist (perf_analyzer's rule)")
    return path


def _rate(get: Callable[[str], Any]) -> RateSettings:
    """The request-rate flags, checked as perf_analyzer checks them."""
    text, intervals_file = get("request_rate_range"), get("request_intervals")
    distribution = str(get("request_distribution") or "constant").strip().lower()
    _one_of("--request-distribution", distribution, DISTRIBUTIONS)
    max_threads = get("max_threads")
    if max_threads is not None and max_threads not in ("",):
        _positive("--max-threads", int(max_threads))
    threads = {"max_threads": int(max_threads)} if max_threads not in (None, "") else {}
    if intervals_file:
        if text not in (None, ""):
            raise ValueError(
                "--request-intervals and --request-rate-range: one load mode at a time"
            )
        mean = IntervalsPacer([i * 1000 for i in read_intervals(intervals_file)]).rate
        return RateSettings(mean, mean, 1.0, distribution, str(intervals_file), **threads)
    if text in (None, ""):
        return RateSettings(distribution=distribution, **threads)
    start, end, step = parse_rate_range(text)
    return RateSettings(start, end, step, distribution, **threads)


def _streaming(get: Callable[[str], Any], protocol: str) -> bool:
    """--streaming, checked as perf_analyzer checks it (its words after the flag's name)."""
    if not get("streaming"):
        return False
    if protocol != "grpc":
        raise ValueError(
            "--streaming: Streaming is only allowed with gRPC protocol and Triton C API."
        )
    if get("sync_calls"):
        raise ValueError("--streaming: can not use streaming with synchronous API")
    return True


def _calls(get: Callable[[str], Any], streaming: bool = False) -> str:
    """--async or --sync (the default), checked as perf_analyzer checks them; --streaming
    implies --async (perf_analyzer sets it). Both modes take it: at a request rate each
    request leaves at its slot however many are in flight (triton_user/sweep/async_pacing.py)."""
    asynchronous, synchronous = bool(get("async_calls")) or streaming, bool(get("sync_calls"))
    if asynchronous and synchronous:
        raise ValueError("--async and --sync: cannot specify both (perf_analyzer refuses too)")
    if not asynchronous:
        return "sync"
    if get("client_io") == "gevent" and get("max_threads") not in (None, ""):
        raise ValueError(
            "--max-threads with --async --client-io gevent: every user waits on Locust's own "
            "event loop, in one thread; leave out one of them"
        )
    return "async"


def _check_binary_search(
    rate: RateSettings, start: int, end: int, latency_threshold: float | None
) -> None:
    """perf_analyzer's checks of --binary-search (VerifyOptions), in its order and words."""
    if rate.intervals_file:  # perf_analyzer ignores the flag there: one level, nothing to search
        raise ValueError("--binary-search: --request-intervals is one level, not a range to search")
    lo, hi = (rate.start, rate.end) if rate.start is not None else (start, end)
    if hi == 0:
        raise ValueError(
            "--binary-search: The end of the range can not be 0 (or 0.0) for binary search mode."
        )
    if latency_threshold is None:
        raise ValueError(
            "--binary-search: The --latency-threshold cannot be 0 for binary search mode."
        )
    if hi < lo:
        raise ValueError(
            "--binary-search: The end of the range can not be less than start of the range "
            "for binary search mode."
        )


def _sequence(get: Callable[[str], Any], rate: RateSettings, concurrency: int) -> SequenceSettings:
    """The sequence flags, checked as perf_analyzer checks them (command_line_parser.cc,
    perf_analyzer.cc: an ID range smaller than the sequences that may run at once is refused
    whatever the model). A length below 1, which perf_analyzer warns about and replaces by
    its default, is refused."""
    length = get("sequence_length")
    specified = length not in (None, "")
    if specified and int(length) < 1:
        raise ValueError(
            f"--sequence-length {int(length)}: must be > 0 (perf_analyzer warns and uses 20)"
        )
    variation = float(get("sequence_length_variation") or 0)
    if variation < 0:
        raise ValueError("Failed to parse --sequence-length-variation. The value must be >= 0.0.")
    sequences = get("num_of_sequences")
    if sequences is None or int(sequences) < 1:
        raise ValueError("Failed to parse --num-of-sequences. The value must be > 0.")
    id_text = get("sequence_id_range")
    id_start, id_range = (
        parse_sequence_id_range(id_text)
        if id_text not in (None, "")
        else (1, DEFAULT_SEQUENCE_ID_RANGE)
    )
    if rate.start is None and id_range < concurrency:
        raise ValueError(
            f"--sequence-id-range {id_text}: sequence id range specified is smaller than the "
            "maximum possible concurrency, sequence id collision may occur."
        )
    if rate.start is not None and id_range < int(sequences):
        raise ValueError(
            f"--sequence-id-range {id_text}: sequence id range specified is smaller than the "
            "maximum possible number of sequences, sequence id collision may occur."
        )
    return SequenceSettings(
        length=int(length) if specified else DEFAULT_SEQUENCE_LENGTH,
        length_specified=specified,
        length_variation=variation,
        id_start=id_start,
        id_range=id_range,
        num_of_sequences=int(sequences),
        serial=bool(get("serial_sequences")),
    )


def _shared_memory(get: Callable[[str], Any]) -> dict[str, Any]:
    """--shared-memory and --output-shared-memory-size, checked in perf_analyzer's words
    (command_line_parser.cc); a size it would ignore, without shared memory, is refused."""
    kind = str(get("shared_memory") or "none").strip().lower()
    if kind not in SHARED_MEMORY:
        raise ValueError(
            f"Failed to parse --shared-memory. Unsupported type provided: '{kind}'. The "
            "available options are 'system', 'cuda', or 'none'."
        )
    if kind == "cuda":
        # perf_analyzer built without a GPU refuses it too ("Cuda shared memory is not
        # supported when TRITON_ENABLE_GPU=0.").
        if not os.path.exists("/dev/nvidiactl"):
            raise ValueError(
                "--shared-memory cuda: this machine has no GPU (no /dev/nvidiactl); use "
                "--shared-memory system or none"
            )
        raise ValueError("--shared-memory cuda: not supported yet; use --shared-memory system")
    size = get("output_shared_memory_size")
    if size in (None, ""):
        return {"shared_memory": kind}
    if int(size) < 0:
        raise ValueError("Failed to parse --output-shared-memory-size. The value must be >= 0.")
    if kind == "none":
        raise ValueError(
            "--output-shared-memory-size: only with --shared-memory system (without shared "
            "memory the outputs come in the responses)"
        )
    return {"shared_memory": kind, "output_shared_memory_size": int(size)}


def _metrics(get: Callable[[str], Any], url: str) -> dict[str, Any]:
    """--collect-metrics, --metrics-url and --metrics-interval, checked in perf_analyzer's
    words (command_line_parser.cc); the URL defaults to -u's host, port 8002."""
    collect = bool(get("collect_metrics"))
    metrics_url, interval = get("metrics_url"), get("metrics_interval_ms")
    given_url, given_interval = metrics_url not in (None, ""), interval not in (None, "")
    if given_interval and int(interval) <= 0:
        raise ValueError("Failed to parse --metrics-interval. The value must be > 0 msecs.")
    if given_url and not collect:
        raise ValueError("Must specify --collect-metrics when using the --metrics-url option.")
    if given_interval and not collect:
        raise ValueError("Must specify --collect-metrics when using the --metrics-interval option.")
    if not collect:
        return {}
    metrics_url = str(metrics_url).strip() if given_url else default_metrics_url(host_port(url)[0])
    metrics_http_url(metrics_url)  # a URL without a usable host or port, said here
    return {
        "collect_metrics": True,
        "metrics_url": metrics_url,
        "metrics_interval_ms": int(interval) if given_interval else DEFAULT_METRICS_INTERVAL_MS,
    }


def _tls(get: Callable[[str], Any]) -> TlsSettings:
    """The --ssl-* values, each under its TlsSettings field's name; unset paths are ''."""
    values: dict[str, Any] = {}
    for f in fields(TlsSettings):
        value = get(f.name)
        if value is None:
            value = f.default
        elif isinstance(f.default, str) and f.name.endswith("_type"):
            value = str(value).strip().upper()  # the web UI's form is not argparse's type
        values[f.name] = value
    return TlsSettings(**values)


def _listed(value: Any) -> list[str]:
    """A repeatable flag's values; a plan or an older caller may give one as a word."""
    if value in (None, ""):
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _one_of(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    # The web UI's form hands values over unchecked by argparse's choices.
    if value not in allowed:
        raise ValueError(f"{name} {value!r}: expected one of {', '.join(allowed)}")


def _positive(name: str, value: int) -> None:
    if value is None or value < 1:
        raise ValueError(f"{name} must be at least 1 (got {value})")
