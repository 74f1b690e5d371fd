"""perf_analyzer 2.51's console output (perf_analyzer.cc PrerunReport and WriteReport,
inference_profiler.cc Report), as strings. Our additions stand on lines of their own,
marked [WARNING] or named plainly, so that scripts parsing perf_analyzer's lines still work."""

from __future__ import annotations

from analysis.results import LevelResult, SweepResult, SweepSettings
from analysis.server_stats import breakdown
from analysis.stabiliser import Verdict
from analysis.window import Window

# Above this share of one CPU the load generator, not the server, may set the pace.
CLIENT_BUSY_WARNING = 0.9


def fmt(x: float) -> str:
    """A double as C++ iostreams print it by default: 6 significant digits."""
    return f"{x:.6g}"


def settings_block(settings: SweepSettings) -> str:
    lines = [
        "*** Measurement Settings ***",
        f"  Batch size: {settings.batch_size}",
        "  Service Kind: Triton",
        f'  Using "{settings.measurement_mode}" mode for stabilization',
        f"  Stabilizing using {_stabilizing_on(settings)} latency and throughput",
    ]
    if settings.measurement_mode == "count_windows":
        lines.append(
            f"  Minimum number of samples in each window: {settings.measurement_request_count}"
        )
    else:
        lines.append(f"  Measurement window: {settings.measurement_interval_ms} msec")
    if settings.concurrency_end != 1:
        lines.append(f"  Latency limit: {_ms(settings.latency_threshold_ms or 0)} msec")
        if settings.concurrency_end != 0:
            limit = max(settings.concurrency_start, settings.concurrency_end)
            lines.append(f"  Concurrency limit: {limit} concurrent requests")
    lines += ["  Using synchronous calls for inference", ""]
    return "\n".join(lines)


def _stabilizing_on(settings: SweepSettings) -> str:
    return "average" if settings.percentile is None else f"p{settings.percentile}"


def _ms(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else fmt(x)


def level_header(concurrency: int) -> str:
    return f"Request concurrency: {concurrency}"


def level_block(level: LevelResult, settings: SweepSettings, verbose: bool = False) -> str:
    """What perf_analyzer prints after "Request concurrency: N"."""
    if level.verdict is Verdict.OVER_THRESHOLD:
        limit = _ms(settings.latency_threshold_ms or 0)
        return f"Measured latency went over the set limit of {limit} msec. "
    merged = level.merged
    if merged is None or merged.request_count == 0:
        return "  No valid requests recorded within time interval. Please use a larger time window."
    lines = ["  Client: ", *_client_lines(merged, settings, verbose)]
    if merged.server is not None:
        lines += ["  Server: ", *_server_lines(merged)]
    lines += _our_lines(level, settings)
    return "\n".join(lines)


def _client_lines(w: Window, settings: SweepSettings, verbose: bool) -> list[str]:
    lines = [
        f"    Request count: {w.request_count}",
        f"    Throughput: {fmt(w.throughput)} infer/sec",
    ]
    if w.error_count:
        lines.append(f"    Failed requests: {w.error_count}")
    if settings.percentile is None:
        std = "inf" if w.std_us is None or w.std_us == float("inf") else f"{w.std_us:.0f}"
        avg_us = (w.avg_latency_ns or 0) // 1000
        lines.append(f"    Avg latency: {avg_us} usec (standard deviation {std} usec)")
    lines += [f"    p{p} latency: {ns // 1000} usec" for p, ns in sorted(w.percentiles_ns.items())]
    lines.append(_client_split(w, settings.protocol, verbose))
    return lines


def client_split_us(w: Window) -> tuple[int, int, int, int]:
    """(request, send, response wait, recv) in integer usec as perf_analyzer derives them;
    our request time is the whole measured latency."""
    request = (w.avg_latency_ns or 0) // 1000
    send, recv = w.avg_send_ns // 1000, w.avg_recv_ns // 1000
    return request, send, request - send - recv, recv


def _client_split(w: Window, protocol: str, verbose: bool) -> str:
    request, send, wait, recv = client_split_us(w)
    if protocol == "grpc":
        if verbose:
            detail = f"marshal {send} usec + response wait {wait} usec + unmarshal {recv} usec"
        else:
            detail = f"(un)marshal request/response {send + recv} usec + response wait {wait} usec"
        return f"    Avg gRPC time: {request} usec ({detail})"
    if verbose:
        detail = f"send {send} usec + response wait {wait} usec + receive {recv} usec"
    else:
        detail = f"send/recv {send + recv} usec + response wait {wait} usec"
    return f"    Avg HTTP time: {request} usec ({detail})"


def _server_lines(w: Window) -> list[str]:
    stats = w.server
    assert stats is not None
    if stats.success_count == 0:
        return ["    Request count: 0"]
    b = breakdown(stats)
    return [
        f"    Inference count: {stats.inference_count}",
        f"    Execution count: {stats.execution_count}",
        f"    Successful request count: {stats.success_count}",
        f"    Avg request latency: {b.request_us} usec (overhead {b.overhead_us} usec + "
        f"queue {b.queue_us} usec + compute input {b.compute_input_us} usec + "
        f"compute infer {b.compute_infer_us} usec + compute output {b.compute_output_us} usec)",
        "",
    ]


def _our_lines(level: LevelResult, settings: SweepSettings) -> list[str]:
    lines = []
    if level.verdict is Verdict.UNSTABLE:
        lines.append(
            f"  [WARNING] Not stable within {settings.max_trials} windows: throughput spread "
            f"{_pct(level.spread.throughput)}, latency spread {_pct(level.spread.latency)}; "
            f"reported from the last 3 windows"
        )
    elif level.verdict is Verdict.INTERRUPTED:
        lines.append(f"  [WARNING] Interrupted after {len(level.windows)} windows: not reported")
    if level.remeasured:
        lines.append(
            f"  [WARNING] A Locust worker was lost: the level was measured again "
            f"({level.remeasured}x)"
        )
    missing = level.merged.missing_workers if level.merged is not None else 0
    if missing:
        lines.append(
            f"  [WARNING] {missing} worker answer(s) missing from the reported windows: "
            "their requests are not counted"
        )
    busy = level.merged.client_busy if level.merged is not None else None
    if busy is not None and busy > CLIENT_BUSY_WARNING:
        lines.append(
            f"[WARNING] triton-locust is not able to keep up with the desired load (client busy "
            f"{busy:.0%}). The results may not be accurate."
        )
    return lines


def _pct(ratio: float) -> str:
    return "unbounded" if ratio == float("inf") else f"{(ratio - 1) * 100:.1f}%"


def summary_block(result: SweepResult) -> str:
    """The closing "Inferences/Second vs. Client ... Batch Latency" lines."""
    settings = result.settings
    on = "Average" if settings.percentile is None else f"p{settings.percentile}"
    lines = [f"Inferences/Second vs. Client {on} Batch Latency"]
    for level in result.reported_levels:
        merged = level.merged
        assert merged is not None
        latency_us = int(merged.stabilizing_latency_ns(settings.percentile)) // 1000
        flag = "" if level.stable else " (unstable)"
        lines.append(
            f"Concurrency: {level.concurrency}, throughput: {fmt(merged.throughput)} infer/sec, "
            f"latency {latency_us} usec{flag}"
        )
    return "\n".join(lines)
