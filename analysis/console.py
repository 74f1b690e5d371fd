"""perf_analyzer 2.51's console output (perf_analyzer.cc PrerunReport and WriteReport,
inference_profiler.cc Report), as strings. Our additions stand on lines of their own,
marked [WARNING] or named plainly, so that scripts parsing perf_analyzer's lines still work."""

from __future__ import annotations

import math
from collections.abc import Sequence

from analysis.pa_arithmetic import client_split_us, fmt, server_breakdown, whole_us
from analysis.results import LevelResult, SweepResult
from analysis.server_metrics import MAX_GPUS_ON_CONSOLE, ServerMetrics
from analysis.server_stats import ServerStats
from analysis.settings import SweepSettings
from analysis.stabiliser import Verdict, spread
from analysis.statistics import STREAM_PERCENTILES
from analysis.window import Window

# Above this share of one CPU the load generator, not the server, may set the pace.
CLIENT_BUSY_WARNING = 0.9
# Above this mean lateness of its event loop, our own waiting adds to the latencies.
CLIENT_LAG_WARNING_MS = 1.0

# perf_analyzer's standard deviation of a single sample: UINT64_MAX, printed as such.
UINT64_MAX = 2**64 - 1

# perf_analyzer's DELAY_PCT_THRESHOLD (constants.h): above this share of delayed requests,
# in percent, it warns that it could not keep up with the rate.
DELAY_PCT_THRESHOLD = 1.0

NO_VALID_REQUESTS = (
    "  No valid requests recorded within time interval. Please use a larger time window."
)


# -- before the sweep ------------------------------------------------------------------------


def data_read_line(streams: int, steps: int) -> str:
    """What perf_analyzer prints once it has read --input-data JSON files (load_manager.cc),
    leading space and all; the steps are those of the first stream, said only when there is
    one stream."""
    line = f" Successfully read data for {streams} stream/streams"
    if streams == 1:
        line += f" with {steps} step/steps"
    return line + "."


def settings_block(settings: SweepSettings, decoupled: bool = False) -> str:
    """The "*** Measurement Settings ***" block, ending with its blank line; `decoupled`:
    the model is (perf_analyzer reads its config first)."""
    lines = [
        "*** Measurement Settings ***",
        f"  Batch size: {settings.batch_size}",
        "  Service Kind: TRITON",
        # "stabilization", "Stabilizing": perf_analyzer's own (American) wording, which
        # scripts match; our identifiers spell it the British way.
        f'  Using "{settings.measurement_mode}" mode for stabilization',
        # perf_analyzer prints "p95latency": the space is our one deliberate difference.
        # perf_analyzer names throughput alone with --async (latency too is checked, up to -r).
        f"  Stabilizing using {_stabilising_on(settings)} "
        + ("throughput" if settings.calls == "async" else "latency and throughput"),
    ]
    if settings.measurement_mode == "count_windows":
        lines.append(
            f"  Minimum number of samples in each window: {settings.measurement_request_count}"
        )
    else:
        lines.append(f"  Measurement window: {settings.measurement_interval_ms} msec")
    if settings.concurrency_end != 1:
        lines.append(f"  Latency limit: {_ms(settings.latency_threshold_ms)} msec")
        if settings.concurrency_end != 0:  # 0: no limit, -l ends the sweep
            limit = max(settings.concurrency_start, settings.concurrency_end)
            lines.append(f"  Concurrency limit: {limit} concurrent requests")
    lines += _rate_settings_lines(settings)
    if settings.search == "binary":
        lines.append("  Using Binary Search algorithm")
    calls = "asynchronous" if settings.calls == "async" else "synchronous"
    lines.append(f"  Using {calls} calls for inference")
    if decoupled:  # its words, though its latency is to the last response
        lines.append("  Detected decoupled model, using the first response for measuring latency")
    lines.append("")
    return "\n".join(lines)


def _rate_settings_lines(settings: SweepSettings) -> list[str]:
    """perf_analyzer's request-rate lines of the settings block (PrerunReport); an intervals
    file is its custom-intervals mode, which prints none of them."""
    rate = settings.rate
    if not settings.rate_mode or rate.intervals_file:
        return []
    lines = []
    if rate.end != 1.0:
        lines.append(f"  Latency limit: {_ms(settings.latency_threshold_ms)} msec")
        if rate.end != 0:
            lines.append(
                f"  Request Rate limit: {fmt(max(rate.start or 0.0, rate.end))} requests per "
                "seconds"
            )
    kind = "poisson" if rate.distribution == "poisson" else "uniform"
    lines.append(f"  Using {kind} distribution on request generation")
    return lines


def _stabilising_on(settings: SweepSettings) -> str:
    return "average" if settings.percentile is None else f"p{settings.percentile}"


def _ms(x: float | None) -> str:
    """-l as perf_analyzer prints it (an integer; no limit is 0)."""
    x = x or 0
    return str(int(x)) if float(x).is_integer() else fmt(x)


# -- one level -------------------------------------------------------------------------------


def level_header(concurrency: float, settings: SweepSettings | None = None) -> str:
    """The line before a level's block; in request-rate mode the level is a rate (an
    intervals file has none: perf_analyzer prints no header for it)."""
    if settings is not None and settings.rate_mode:
        if settings.rate.intervals_file:
            return ""
        # "seconds": what perf_analyzer 2.51 prints (its later source says "second").
        return f"Request Rate: {fmt(concurrency)} inference requests per seconds"
    return f"Request concurrency: {concurrency}"


def level_block(
    level: LevelResult,
    settings: SweepSettings,
    protocol_detail: bool = True,
    verbose: bool = False,
    decoupled: bool = False,
) -> str:
    """What perf_analyzer prints after "Request concurrency: N", then our own lines.
    protocol_detail is perf_analyzer's include_lib_stats: the "Avg HTTP/gRPC time" line,
    which it leaves out for a decoupled model (whose Response Throughput it prints)."""
    if level.verdict is Verdict.OVER_THRESHOLD:
        limit = _ms(settings.latency_threshold_ms)
        return f"Measured latency went over the set limit of {limit} msec. "
    if level.verdict is Verdict.INTERRUPTED:
        # One line, no Client/Server block: figures printed as perf_analyzer prints a
        # measured level would contradict "not reported". The JSON keeps its windows.
        return interrupted_line(level)
    merged = level.merged
    if merged is None or merged.request_count == 0:
        return "\n".join([NO_VALID_REQUESTS, *_our_lines(level, settings)])
    detail = protocol_detail and not decoupled
    lines = ["  Client: ", *client_lines(merged, settings, detail, verbose, decoupled)]
    if merged.server is not None:
        lines += ["  Server: ", *server_lines(merged.server)]
    if settings.collect_metrics:
        metrics = merged.server_metrics or ServerMetrics()
        lines += ["  Server Prometheus Metrics: ", *prometheus_lines(metrics)]
    lines += _our_lines(level, settings)
    return "\n".join(lines)


def client_lines(
    w: Window,
    settings: SweepSettings,
    protocol_detail: bool = True,
    verbose: bool = False,
    decoupled: bool = False,
) -> list[str]:
    """ReportClientSideStats; its "Sequence count" line for a sequence model only."""
    lines = [f"    Request count: {w.request_count}"]
    number = fmt
    if settings.rate_mode and w.late_share * 100 > DELAY_PCT_THRESHOLD:
        # perf_analyzer's lines, std::fixed with 2 decimals: its seq/sec and Throughput
        # after them inherit that format.
        lines += [
            f"    Avg send request rate: {w.send_rate:.2f} infer/sec",
            "    [WARNING] triton-locust was not able to keep up with the desired request "
            f"rate. {w.late_share * 100:.2f}% of the requests were delayed. ",
        ]
        number = _fixed2
    if w.sequence_count is not None:
        per_sec = number(w.sequence_per_sec)
        lines.append(f"    Sequence count: {w.sequence_count} ({per_sec} seq/sec)")
    lines.append(f"    Throughput: {number(w.throughput)} infer/sec")
    if decoupled:  # perf_analyzer's unit for it, "infer/sec", though it counts responses
        lines.append(f"    Response Throughput: {fmt(w.response_throughput)} infer/sec")
    if settings.percentile is None:
        avg_us = whole_us(w.avg_latency_ns or 0)
        lines.append(f"    Avg latency: {avg_us} usec (standard deviation {_std(w)} usec)")
    lines += [
        f"    p{p} latency: {whole_us(ns)} usec" for p, ns in sorted(w.percentiles_ns.items())
    ]
    # perf_analyzer prints this line even when it has no detail to put on it.
    lines.append("    " + (_client_split(w, settings.protocol, verbose) if protocol_detail else ""))
    return lines


def _fixed2(x: float) -> str:
    """A double after std::fixed << std::setprecision(2)."""
    return f"{x:.2f}"


def _std(w: Window) -> int:
    # One sample has no sample deviation: perf_analyzer stores (and prints) UINT64_MAX.
    if w.std_us is None or not math.isfinite(w.std_us):
        return UINT64_MAX
    return int(w.std_us)


def _client_split(w: Window, protocol: str, verbose: bool) -> str:
    request, send, wait, recv = client_split_us(w)
    if protocol == "grpc":
        if verbose:
            detail = f"marshal {send} usec + response wait {wait} usec + unmarshal {recv} usec"
        else:
            detail = f"(un)marshal request/response {send + recv} usec + response wait {wait} usec"
        return f"Avg gRPC time: {request} usec ({detail})"
    if protocol == "http":
        if verbose:
            detail = f"send {send} usec + response wait {wait} usec + receive {recv} usec"
        else:
            detail = f"send/recv {send + recv} usec + response wait {wait} usec"
        return f"Avg HTTP time: {request} usec ({detail})"
    return ""  # as perf_analyzer for a protocol it has no library figures for


def server_lines(stats: ServerStats) -> list[str]:
    """ReportServerSideStats for a non-ensemble model without response cache; the block
    ends with a blank line, unless no request succeeded."""
    if stats.success_count == 0:
        return ["    Request count: 0"]
    b = server_breakdown(stats)
    return [
        f"    Inference count: {stats.inference_count}",
        f"    Execution count: {stats.execution_count}",
        f"    Successful request count: {stats.success_count}",
        f"    Avg request latency: {b.request_us} usec (overhead {b.overhead_us} usec + "
        f"queue {b.queue_us} usec + compute input {b.compute_input_us} usec + "
        f"compute infer {b.compute_infer_us} usec + compute output {b.compute_output_us} usec)",
        "",
    ]


def prometheus_lines(metrics: ServerMetrics) -> list[str]:
    """ReportPrometheusMetrics: each GPU figure per GPU uuid (utilisation in percent), none
    past 16 GPUs; then ours, the CPU's, when the server reports them."""
    utilization = {k: f"{fmt(v * 100.0)}%" for k, v in metrics.gpu_utilization.items()}
    power = {k: f"{fmt(v)} watts" for k, v in metrics.gpu_power_usage.items()}
    gpu = (
        ("Avg GPU Utilization", utilization),
        ("Avg GPU Power Usage", power),
        ("Max GPU Memory Usage", _bytes(metrics.gpu_memory_used_bytes)),
        ("Total GPU Memory", _bytes(metrics.gpu_memory_total_bytes)),
    )
    if metrics.gpu_count > MAX_GPUS_ON_CONSOLE:
        lines = [
            "Too many GPUs on system to print out individual Prometheus metrics, use the CSV "
            "output feature to see metrics."
        ]
    else:
        lines = []
        for name, per_gpu in gpu:
            lines.append(f"    {name}:")
            lines += [f"      {uuid} : {value}" for uuid, value in per_gpu.items()]
    if metrics.cpu_utilization is not None:
        lines.append(f"    Avg CPU Utilization: {fmt(metrics.cpu_utilization * 100.0)}%")
    if metrics.cpu_memory_used_bytes is not None:
        lines.append(f"    Max CPU Memory Usage: {metrics.cpu_memory_used_bytes} bytes")
    if metrics.cpu_memory_total_bytes is not None:
        lines.append(f"    Total CPU Memory: {metrics.cpu_memory_total_bytes} bytes")
    return lines


def _bytes(per_gpu: dict[str, int]) -> dict[str, str]:
    return {uuid: f"{value} bytes" for uuid, value in per_gpu.items()}


def _our_lines(level: LevelResult, settings: SweepSettings) -> list[str]:
    """Ours, not perf_analyzer's: each on a line of its own, after perf_analyzer's blocks
    (where perf_analyzer puts its own "not able to keep up" warning)."""
    lines = [*_verdict_lines(level, settings)]
    merged = level.merged
    if settings.rate_mode and merged is not None and merged.request_count:
        lines += rate_lines(merged, level.request_rate)
    if merged is not None and merged.streamed:
        lines += stream_lines(merged)
    failed = [w.error_count for w in level.windows if w.error_count]
    if failed:
        reported = f", {merged.error_count} in the reported windows" if merged is not None else ""
        lines.append(
            f"  [WARNING] Failed requests (errors, timeouts): {sum(failed)} in "
            f"{len(failed)} of {_windows(len(level.windows))}{reported}; not in the figures"
        )
    lines += _failed_scrapes_lines(level)
    if level.remeasured:
        lines.append(
            f"  [WARNING] A Locust worker was lost or joined: the level was measured again "
            f"({level.remeasured}x)"
        )
    if merged is not None and merged.missing_workers:
        lines.append(
            f"  [WARNING] {merged.missing_workers} worker answer(s) missing from the reported "
            "windows: their requests are not counted"
        )
    if merged is not None and merged.joined_workers:
        lines.append(
            f"  [WARNING] {merged.joined_workers} worker(s) joined during the reported windows: "
            "Locust moved users onto them mid-window"
        )
    if merged is not None and client_overloaded(merged):
        lines.append(
            f"[WARNING] triton-locust is not able to keep up with the desired load "
            f"({_load_figures(merged)}). The results may not be accurate."
        )
    return lines


def stream_lines(w: Window) -> list[str]:
    """Ours (--streaming): responses per request, and the latency to each request's first
    response and between its responses, which perf_analyzer measures but does not print."""
    per_request = w.response_count / w.request_count if w.request_count else 0.0
    return [
        f"  Streaming: {w.response_count} responses ({per_request:.4g} per request, "
        f"{fmt(w.response_throughput)} responses/sec)",
        f"    First response latency: {_percentile_words(w.first_response_percentiles_ns)}",
        f"    Inter-response latency: {_percentile_words(w.inter_response_percentiles_ns)}",
    ]


def _percentile_words(percentiles_ns: dict[int, int]) -> str:
    """p50, p95 and p99 in usec ("none" when no request had such a response)."""
    if not percentiles_ns:
        return "none"
    return ", ".join(
        f"p{p} {whole_us(percentiles_ns[p])} usec"
        for p in STREAM_PERCENTILES
        if p in percentiles_ns
    )


def _failed_scrapes_lines(level: LevelResult) -> list[str]:
    """--collect-metrics: the scrapes of the metrics endpoint that failed in the level."""
    failed = [w.server_metrics.failed for w in level.windows if w.server_metrics is not None]
    if not sum(failed):
        return []
    merged = level.merged.server_metrics if level.merged is not None else None
    reported = f", {merged.failed} in the reported windows" if merged is not None else ""
    why = f" (last: {merged.last_error})" if merged is not None and merged.last_error else ""
    return [
        f"  [WARNING] Failed scrapes of the metrics endpoint: {sum(failed)} in "
        f"{sum(1 for f in failed if f)} of {_windows(len(level.windows))}{reported}{why}; "
        "the metrics above leave them out"
    ]


def rate_lines(w: Window, target: float | None) -> list[str]:
    """Ours, in request-rate mode: the latency from each request's slot (what a caller
    arriving at that rate waits; perf_analyzer's figures above count from the send), and the
    late requests."""
    scheduled = ", ".join(
        f"p{p} {whole_us(ns)} usec" for p, ns in sorted(w.scheduled_percentiles_ns.items())
    )
    late = f"  Late requests: {w.late_count} of {w.request_count} ({w.late_share:.2%})"
    if w.late_count:
        late += (
            f", late by p50 {whole_us(w.late_p50_ns or 0)} usec, "
            f"p99 {whole_us(w.late_p99_ns or 0)} usec"
        )
    target_text = f" of {fmt(target)} wanted" if target is not None else ""
    return [
        f"  Scheduled latency (from each request's slot, not its send): {scheduled}",
        late + f"; sent {w.send_rate:.2f} requests/sec{target_text}",
    ]


def client_overloaded(window: Window) -> bool:
    """Was the load generator, not the server, what set the pace?"""
    busy, lag = window.client_busy, window.client_lag_ms
    return (busy is not None and busy > CLIENT_BUSY_WARNING) or (
        lag is not None and lag > CLIENT_LAG_WARNING_MS
    )


def _load_figures(window: Window) -> str:
    figures = []
    if window.client_busy is not None:
        figures.append(f"client busy {window.client_busy:.0%}")
    if window.client_lag_ms is not None:
        figures.append(f"loop lag {window.client_lag_ms:.1f} ms")
    return ", ".join(figures)


def _verdict_lines(level: LevelResult, settings: SweepSettings) -> list[str]:
    if level.verdict is Verdict.UNSTABLE:
        return [
            f"  [WARNING] Not stable within {settings.max_trials} windows: throughput spread "
            f"{_pct(level.spread.throughput)}, latency spread {_pct(level.spread.latency)}; "
            f"reported from the last {settings.rule.window_count} windows"
        ]
    drifting = level.spread.latency > 1 + settings.stability_pct / 100
    if level.verdict is Verdict.STABLE and settings.calls == "async" and drifting:
        # perf_analyzer's --async rule: throughput alone settled the level within -r windows.
        return [
            f"  [WARNING] Request latency is not stabilizing (latency spread "
            f"{_pct(level.spread.latency)}): reported on its throughput alone, as "
            "perf_analyzer does with --async"
        ]
    return []


def interrupted_line(level: LevelResult, results_json: str | None = None) -> str:
    """A level stopped before it settled: how far it got, that it is not reported, and
    where its windows are kept (the JSON, when one is written)."""
    n = len(level.windows)
    measured = "before its first window" if n == 0 else f"after {_windows(n)}"
    kept = f"; {results_json} keeps its windows, marked interrupted" if results_json and n else ""
    return f"  Interrupted {measured}: not reported{kept}"


def _windows(n: int) -> str:
    return f"{n} window" if n == 1 else f"{n} windows"


def unstable_reason(level: LevelResult, settings: SweepSettings) -> str:
    """Which spread kept a level from settling, against -s: "throughput spread 15.4% > 10%"."""
    needed = settings.rule.window_count
    if len(level.windows) < needed:  # -r below 3: perf_analyzer's rule can never be met
        return f"only {_windows(len(level.windows))}; stability compares {needed}"
    limit = 1 + settings.stability_pct / 100
    spreads = (("throughput", level.spread.throughput), ("latency", level.spread.latency))
    over = [f"{name} spread {_pct(ratio)}" for name, ratio in spreads if ratio > limit]
    return f"{', '.join(over) or 'spread'} > {_limit(settings)}"


def _limit(settings: SweepSettings) -> str:
    return f"{settings.stability_pct:g}%"


def _pct(ratio: float) -> str:
    """A max/min spread as the percentage -s is given in."""
    return "unbounded" if not math.isfinite(ratio) else f"{(ratio - 1) * 100:.1f}%"


# -- after the sweep -------------------------------------------------------------------------


def summary_block(result: SweepResult) -> str:
    """The closing "Inferences/Second vs. Client ... Batch Latency" lines: reported levels
    in sweep order (perf_analyzer lists stable ones only; ours are flagged)."""
    settings = result.settings
    on = "Average" if settings.percentile is None else f"p{settings.percentile}"
    lines = [f"Inferences/Second vs. Client {on} Batch Latency"]
    for level in result.reported_levels:
        merged = level.merged
        assert merged is not None  # reported levels have one
        latency_us = whole_us(int(merged.stabilising_latency_ns(settings.percentile)))
        flag = "" if level.stable else " (unstable)"
        load = (
            f"Request Rate: {fmt(level.request_rate)}"
            if level.request_rate is not None
            else f"Concurrency: {level.concurrency}"
        )
        lines.append(
            f"{load}, throughput: {fmt(merged.throughput)} infer/sec, "
            f"latency {latency_us} usec{flag}"
        )
    return "\n".join(lines)


def window_line(index: int, window: Window, settings: SweepSettings) -> str:
    """With -v: one window as it is measured, as perf_analyzer's verbose "Pass [k]" line."""
    latency = window.stabilising_latency_ns(settings.percentile)
    shown = f"{latency / 1000:.0f} usec" if latency != float("inf") else "none"
    return (
        f"  Pass [{index}] throughput: {window.throughput:.6g} infer/sec. "
        f"{settings.latency_label} latency: {shown}"
    )


# -- as a level goes -------------------------------------------------------------------------


def stability_so_far(windows: Sequence[Window], settings: SweepSettings) -> str:
    """With -v, after perf_analyzer's "Pass [k]" line: window k of -r, and the spread of the
    last windows as the stabiliser computes it, against -s."""
    so_far = _spread_so_far(windows, settings)
    return f"    window {len(windows)} of {settings.max_trials}, {so_far}"


def status_line(
    concurrency: float,
    windows: Sequence[Window],
    settings: SweepSettings,
    elapsed_s: float,
    width: int = 1000,
) -> str:
    """The terminal's live status line: the level, its latest window, the spread so far
    against -s, the time spent; spelled out when `width` allows, abbreviated otherwise."""
    clock, r, k = _clock(elapsed_s), settings.max_trials, len(windows)
    name, short = (
        (f"rate {concurrency:g}/s", f"r={concurrency:g}")
        if settings.rate_mode
        else (f"concurrency {concurrency}", f"c={concurrency}")
    )
    if not windows:
        return f"[{clock}] {name} | window 1 of {r}: measuring"
    w = windows[-1]
    latency = w.stabilising_latency_ns(settings.percentile)
    us = str(whole_us(int(latency))) if math.isfinite(latency) else "none"
    label, limit = settings.latency_label, _limit(settings)
    if k < settings.rule.window_count:
        long_spread = short_spread = f"spread after {settings.rule.window_count} windows"
    else:
        s = spread(windows, settings.rule)
        long_spread = f"spread: thr {_pct(s.throughput)}, lat {_pct(s.latency)}"
        short_spread = f"spread {_pct(s.throughput)}/{_pct(s.latency)}"
    spelled = (
        f"[{clock}] {name} | window {k} of {r} | {w.throughput:.1f} "
        f"infer/sec | {label} {us} usec | {long_spread} (-s {limit})"
    )
    if len(spelled) <= width:
        return spelled
    return (
        f"[{clock}] {short} win {k}/{r} | {w.throughput:.1f} infer/s | {label} {us} us"
        f" | {short_spread} (-s {limit})"
    )


def _spread_so_far(windows: Sequence[Window], settings: SweepSettings) -> str:
    rule = settings.rule
    if len(windows) < rule.window_count:
        return f"spread after {rule.window_count} windows (-s {_limit(settings)})"
    s = spread(windows, rule)
    return (
        f"spread: throughput {_pct(s.throughput)}, latency {_pct(s.latency)} "
        f"(-s {_limit(settings)})"
    )


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
