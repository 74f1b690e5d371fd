"""A run's settings in words, as a perf engineer reads them, not as Python prints them.

Header values are credentials (`-H Authorization:...`): only their names are ever shown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from analysis.settings import SECRET_MASK as MASK

# Settings fields this module does not know yet are shown generically; these words in a
# field's name mark its values as secret all the same.
_SECRET_WORDS = ("header", "token", "secret", "password", "auth", "credential")


def masked_headers(headers: dict[str, Any] | None) -> str:
    """'Authorization: ***, X-Trace: ***': the names, never the values."""
    return ", ".join(f"{name}: {MASK}" for name in headers) if headers else "none"


def latency_label(settings: dict[str, Any]) -> str:
    p = settings.get("percentile")
    return "avg" if p is None else f"p{p}"


def window_words(s: dict[str, Any]) -> str:
    if s.get("measurement_mode") == "count_windows":
        return f"count windows of at least {s.get('measurement_request_count')} requests"
    return f"time windows of {s.get('measurement_interval_ms')} ms"


def _model(s: dict[str, Any]) -> str:
    version = s.get("model_version") or "the server's choice"
    return f"{s.get('model')} (version: {version})"


def _server(s: dict[str, Any]) -> str:
    protocol = {"http": "HTTP", "grpc": "gRPC"}.get(s.get("protocol", ""), s.get("protocol"))
    return f"{s.get('url')} over {protocol}"


def _concurrency(s: dict[str, Any]) -> str:
    start, end, step = (
        s.get("concurrency_start"),
        s.get("concurrency_end"),
        s.get("concurrency_step"),
    )
    if end == 0:
        return f"from {start}, step {step}, until the latency threshold"
    if end is None or start is None or end <= start:
        return str(start)
    return f"{start} to {end}, step {step}"


def _stability(s: dict[str, Any]) -> str:
    return (
        f"throughput and {latency_label(s)} latency within {_number(s.get('stability_pct'))}% "
        f"over 3 windows; at most {s.get('max_trials')} windows per level"
    )


def _threshold(s: dict[str, Any]) -> str:
    ms = s.get("latency_threshold_ms")
    if not ms:
        return "none"
    if s.get("search") == "binary":
        return f"{_number(ms)} ms: binary search looks for the highest level under it"
    return f"{_number(ms)} ms: the sweep stops at the first level that reaches it"


def _search(s: dict[str, Any]) -> str:
    if s.get("search") == "binary":
        return (
            "binary (--binary-search): START, END, then midpoints towards the highest level "
            "under the latency threshold, to within STEP"
        )
    return "linear: START, START + STEP, ..."


def _input(s: dict[str, Any]) -> str:
    if s.get("input_data") == "file":
        files = s.get("input_files") or []
        return "from " + (", ".join(str(f) for f in files) or "data files")
    data = {"zero": "zeros"}.get(s.get("input_data", ""), s.get("input_data"))
    return f"{data}; strings of {s.get('string_length')} characters for BYTES inputs"


def _shared_memory(s: dict[str, Any]) -> str:
    kind = s.get("shared_memory") or "none"
    if kind == "none":
        return "none"
    size = s.get("output_shared_memory_size")
    return (
        f"{kind}: inputs and outputs in regions registered with the server; {size} bytes "
        "per batch element for an output of no fixed size"
    )


def _shapes(s: dict[str, Any]) -> str:
    shapes = s.get("shapes") or {}
    return ", ".join(f"{name} [{', '.join(map(str, dims))}]" for name, dims in shapes.items()) or (
        "none set"
    )


def _client_io(s: dict[str, Any]) -> str:
    io = s.get("client_io")
    meaning = {
        "threads": "an OS thread per user",
        "gevent": "every user on one gevent loop",
    }.get(io or "")
    return f"{io} ({meaning})" if meaning else str(io)


def _metrics(s: dict[str, Any]) -> str:
    if not s.get("collect_metrics"):
        return "not collected"
    return f"{s.get('metrics_url')} scraped every {s.get('metrics_interval_ms')} ms"


def _tls(s: dict[str, Any]) -> str:
    """TLS as the run spoke it: file paths only (the results never hold a key's contents)."""
    tls = s.get("tls") or {}
    if s.get("protocol") == "grpc":
        if not tls.get("ssl_grpc_use_ssl"):
            return "none"
        roots = tls.get("ssl_grpc_root_certifications_file") or "the system's CAs"
        words = f"gRPC over TLS; the server's certificate checked against {roots}"
        chain = tls.get("ssl_grpc_certificate_chain_file")
        return words + (f"; client certificate {chain}" if chain else "")
    if not str(s.get("url", "")).lower().startswith("https://"):
        return "none"
    if tls.get("ssl_https_verify_peer", 1):
        ca = tls.get("ssl_https_ca_certificates_file") or "the system's CAs"
        words = f"HTTPS; the server's certificate checked against {ca}"
    else:
        words = "HTTPS; the server's certificate not checked (verify-peer 0)"
    checked = tls.get("ssl_https_verify_host", 2)
    words += "; its name checked" if checked else "; its name not checked (verify-host 0)"
    cert = tls.get("ssl_https_client_certificate_file")
    if cert:
        words += f"; client certificate {cert} ({tls.get('ssl_https_client_certificate_type')})"
    return words


# (label, the fields it covers, how it reads), in the order a perf engineer asks.
_DESCRIBED: tuple[tuple[str, tuple[str, ...], Callable[[dict[str, Any]], str]], ...] = (
    ("model", ("model", "model_version"), _model),
    ("server", ("url", "protocol"), _server),
    ("batch size", ("batch_size",), lambda s: str(s.get("batch_size"))),
    (
        "concurrency",
        ("concurrency_start", "concurrency_end", "concurrency_step"),
        _concurrency,
    ),
    (
        "windows",
        ("measurement_mode", "measurement_interval_ms", "measurement_request_count"),
        window_words,
    ),
    ("stability", ("stability_pct", "max_trials", "percentile"), _stability),
    ("latency threshold", ("latency_threshold_ms",), _threshold),
    ("search", ("search",), _search),
    ("input data", ("input_data", "input_files", "string_length"), _input),
    ("input shapes", ("shapes",), _shapes),
    ("shared memory", ("shared_memory", "output_shared_memory_size"), _shared_memory),
    ("headers", ("headers",), lambda s: masked_headers(s.get("headers"))),
    ("client I/O", ("client_io",), _client_io),
    ("TLS", ("tls",), _tls),
    ("server metrics", ("collect_metrics", "metrics_url", "metrics_interval_ms"), _metrics),
)


def settings_rows(settings: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, words) for each setting; fields added later read generically."""
    rows = []
    covered: set[str] = set()
    for label, fields, words in _DESCRIBED:
        if any(f in settings for f in fields):
            rows.append((label, words(settings)))
            covered.update(fields)
    for key, value in settings.items():
        if key not in covered:
            rows.append((key.replace("_", " "), _generic(key, value)))
    return rows


def _generic(key: str, value: Any) -> str:
    if any(word in key.lower() for word in _SECRET_WORDS):
        return masked_headers(value) if isinstance(value, dict) else (MASK if value else "none")
    return _words(value)


def _words(value: Any) -> str:
    if value is None or value == {} or value == []:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_words(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_words(v) for v in value)
    return str(value)


def _number(x: Any) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)
