"""Benchmark: perf_analyzer 2.51 and triton-locust, same flags, same server, same model, one
run; prints per concurrency both throughputs and p50/p95 latencies and their ratios.

    python bench/compare_perf_analyzer.py                 # sleep_5ms, 1:4, HTTP and gRPC
    python bench/compare_perf_analyzer.py -m identity_fp32 --protocols http -p 2000
    python bench/compare_perf_analyzer.py -m input_check --shape INPUT0:4 \
        --input-data bench/data/input_check_every_form.json        # each data file form
    python bench/compare_perf_analyzer.py --collect-metrics   # both scrape Triton's metrics
    python bench/compare_perf_analyzer.py --shared-memory system  # tensors in shared memory
    python bench/compare_perf_analyzer.py -m accumulator --sequence-length 10  # sequences
    python bench/compare_perf_analyzer.py -m accumulator \
        --input-data bench/data/accumulator_streams.json    # sequences of the data's streams
    python bench/compare_perf_analyzer.py --streaming      # decoupled_stream over gRPC streams
    python bench/compare_perf_analyzer.py --streaming --request-rate-range 40:80:40  # at a rate

It starts the embedded server on free ports unless --http-url/--grpc-url are given, and runs
NVIDIA's binary through ../shared/tools/reference-perf-analyzer (or $REFERENCE_PA)."""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PA = REPO.parent / "shared" / "tools" / "reference-perf-analyzer"
TOLERANCE = 0.05


def read_pa_csv(path: Path) -> dict[float, dict[str, float]]:
    """Rows of a perf_analyzer-format CSV (either tool's) by concurrency or request rate;
    its numeric cells (--collect-metrics' GPU cells are "uuid:value;" lists, or empty)."""
    with path.open() as f:
        rows = list(csv.DictReader(f))
    return {
        float(next(iter(r.values()))): {k: float(v) for k, v in r.items() if _is_number(v)}
        for r in rows
    }


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_cells(path: Path) -> dict[float, dict[str, str]]:
    """Rows of a perf_analyzer-format CSV as text, by concurrency or request rate."""
    with path.open() as f:
        return {float(next(iter(r.values()))): r for r in csv.DictReader(f)}


def csv_header(path: Path) -> list[str]:
    with path.open() as f:
        return next(csv.reader(f))


def outside_server_us(row: dict[str, float]) -> float:
    return row["Client Send"] + row["Network+Server Send/Recv"] + row["Client Recv"]


def run_tool(cmd: list[str], log: Path) -> tuple[int, float]:
    """Exit code and wall time of one tool's sweep."""
    started = time.monotonic()
    with log.open("w") as out:
        code = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
    return code, time.monotonic() - started


def compare(args: argparse.Namespace, protocol: str, url: str, work: Path) -> list[str]:
    flags = [
        "-m",
        args.model,
        "-u",
        url,
        "-i",
        protocol,
        *(
            ["--request-rate-range", args.request_rate_range]
            if args.request_rate_range
            else ["--concurrency-range", args.concurrency_range]
        ),
        "-p",
        str(args.measurement_interval),
        "--percentile",
        str(args.percentile),
        "-s",
        str(args.stability_percentage),
    ]
    for data in args.input_data:
        flags += ["--input-data", data]
    for shape in args.shape:
        flags += ["--shape", shape]
    if args.sequence_length is not None:  # sequence models
        flags += ["--sequence-length", str(args.sequence_length)]
    if args.use_async:
        flags += ["--async", "--max-threads", str(args.max_threads)]
    if args.streaming:  # gRPC only; perf_analyzer sets --async itself
        flags += ["--streaming"]
    if args.shared_memory != "none":  # the server must be on this machine (the embedded one)
        flags += ["--shared-memory", args.shared_memory]
    if args.collect_metrics:  # perf_analyzer writes its metrics with --verbose-csv only
        flags += ["--collect-metrics", "--verbose-csv"]
        flags += ["--metrics-url", args.metrics_url] if args.metrics_url else []
    pa_csv, tl_csv = work / f"pa-{protocol}.csv", work / f"tl-{protocol}.csv"
    pa = os.environ.get("REFERENCE_PA", str(DEFAULT_PA))
    rc_pa, wall_pa = run_tool([pa, *flags, "-f", str(pa_csv)], work / f"pa-{protocol}.log")
    ours = [*flags, "-f", str(tl_csv)] + (["--verbose-csv"] if args.request_rate_range else [])
    rc_tl, wall_tl = run_tool(
        [sys.executable, "-m", "triton_locust.cli", "profile", *ours],
        work / f"tl-{protocol}.log",
    )
    lines = [
        f"{protocol.upper()}  (perf_analyzer exit {rc_pa} in {wall_pa:.0f} s, triton-locust "
        f"exit {rc_tl} in {wall_tl:.0f} s: wall ratio {wall_tl / wall_pa:.2f}; logs in {work})"
    ]
    if not pa_csv.exists() or not tl_csv.exists():
        missing = [p.name for p in (pa_csv, tl_csv) if not p.exists()]
        return lines + [f"  no CSV from {', '.join(missing)}: see the logs"]
    if args.collect_metrics:
        lines += compare_metrics(pa_csv, tl_csv)
    if args.streaming:  # at a rate too: --streaming implies --async there as well
        lines += compare_streaming(pa_csv, tl_csv)
    if args.request_rate_range:
        return lines + compare_rates(args, pa_csv, tl_csv)
    pa_rows, tl_rows = read_pa_csv(pa_csv), read_pa_csv(tl_csv)
    p = f"p{args.percentile} latency"
    lines.append(
        f"  {'conc':>4} {'PA infer/s':>11} {'TL infer/s':>11} {'ratio':>6} "
        f"{'PA p50':>8} {'TL p50':>8} {'ratio':>6} "
        f"{'PA ' + p[:3]:>8} {'TL ' + p[:3]:>8} {'ratio':>6} {'PA out':>7} {'TL out':>7}"
    )
    worst = 0.0
    for c in sorted(set(pa_rows) | set(tl_rows)):
        a, b = pa_rows.get(c), tl_rows.get(c)
        if a is None or b is None:
            lines.append(f"  {c:>4} only in {'triton-locust' if a is None else 'perf_analyzer'}")
            continue
        r_thr = b["Inferences/Second"] / a["Inferences/Second"]
        r50 = b["p50 latency"] / a["p50 latency"]
        rp = b[p] / a[p]
        worst = max(worst, abs(r_thr - 1), abs(rp - 1))
        lines.append(
            f"  {c:>4} {a['Inferences/Second']:>11.1f} {b['Inferences/Second']:>11.1f} "
            f"{r_thr:>6.3f} {a['p50 latency']:>8.0f} {b['p50 latency']:>8.0f} {r50:>6.3f} "
            f"{a[p]:>8.0f} {b[p]:>8.0f} {rp:>6.3f} {outside_server_us(a):>7.0f} "
            f"{outside_server_us(b):>7.0f}"
        )
    if not set(pa_rows) & set(tl_rows):
        return lines + ["  no level measured by both tools: see the logs"]
    verdict = "within" if worst <= TOLERANCE else "NOT within"
    lines.append(f"  throughput and {p[:3]} {verdict} {TOLERANCE:.0%} (worst {worst:.1%})")
    lines.append(
        "  out: average us of each request spent outside the server's queue and compute "
        "(client send + network + client recv, from each tool's CSV): the client's share, "
        "apart from how fast the server happened to be during each tool's run"
    )
    return lines


def compare_streaming(pa_csv: Path, tl_csv: Path) -> list[str]:
    """--streaming: both CSV headers (Response Throughput for a decoupled model), and per
    level both Response Throughputs."""
    pa_header, tl_header = csv_header(pa_csv), csv_header(tl_csv)
    if pa_header == tl_header:
        said = "== ours"
    elif tl_header[: len(pa_header)] == pa_header:  # at a rate ours adds --verbose-csv's
        said = f"== ours up to its last column (ours adds {len(tl_header) - len(pa_header)})"
    else:
        said = "!= ours"
    lines = [f"  CSV header: perf_analyzer's {said}"]
    column = "Response Throughput"
    if column not in pa_header or column not in tl_header:
        return lines + [f"  {column!r}: not in both CSVs (a model that is not decoupled)"]
    pa_rows, tl_rows = read_pa_csv(pa_csv), read_pa_csv(tl_csv)
    lines.append(f"  {'conc':>4} {'PA resp/s':>11} {'TL resp/s':>11} {'ratio':>6}")
    for c in sorted(set(pa_rows) & set(tl_rows)):
        a, b = pa_rows[c][column], tl_rows[c][column]
        lines.append(f"  {c:>4} {a:>11.1f} {b:>11.1f} {b / a:>6.3f}")
    return lines


def compare_metrics(pa_csv: Path, tl_csv: Path) -> list[str]:
    """--collect-metrics: both CSV headers, and per level perf_analyzer's GPU cells beside
    ours, then our CPU figures (perf_analyzer has none)."""
    from analysis.csv_columns import CPU_METRIC_COLUMNS, GPU_METRIC_COLUMNS

    pa_header, tl_header = csv_header(pa_csv), csv_header(tl_csv)
    same = tl_header[: len(pa_header)] == pa_header
    extra = tl_header[len(pa_header) :]
    lines = [
        f"  CSV header: perf_analyzer's {'==' if same else '!='} ours up to its last column; "
        f"ours adds {', '.join(extra) or 'nothing'}"
    ]
    pa_rows, tl_rows = read_cells(pa_csv), read_cells(tl_csv)
    for level in sorted(set(pa_rows) | set(tl_rows)):
        a, b = pa_rows.get(level, {}), tl_rows.get(level, {})
        gpu = "; ".join(
            f"{c}: PA {a.get(c) or '-'} / TL {b.get(c) or '-'}" for c in GPU_METRIC_COLUMNS
        )
        cpu = ", ".join(f"{c} {b.get(c) or '-'}" for c in CPU_METRIC_COLUMNS)
        lines.append(f"  {level:>7g} GPU {gpu}")
        lines.append(f"  {'':>7} CPU (TL only) {cpu}")
    return lines


def compare_rates(args: argparse.Namespace, pa_csv: Path, tl_csv: Path) -> list[str]:
    """Request-rate mode: per rate, both tools' achieved rate and latency from the send, and
    ours from the slot (corrected for coordinated omission) with our late requests."""
    p = f"p{args.percentile} latency"
    pa_header, tl_header = csv_header(pa_csv), csv_header(tl_csv)
    same = tl_header[: len(pa_header)] == pa_header
    lines = [
        f"  CSV header: perf_analyzer's {'==' if same else '!='} ours up to its last column "
        f"(first column {pa_header[0]!r} / {tl_header[0]!r})",
        f"  {'rate':>7} {'PA infer/s':>10} {'TL infer/s':>10} {'ratio':>6} "
        f"{'PA ' + p[:3]:>9} {'TL ' + p[:3]:>9} {'ratio':>6} {'TL slot ' + p[:3]:>12} "
        f"{'TL late':>8}",
    ]
    pa_rows, tl_rows = read_pa_csv(pa_csv), read_pa_csv(tl_csv)
    worst_below = 0.0
    for rate in sorted(set(pa_rows) | set(tl_rows)):
        a, b = pa_rows.get(rate), tl_rows.get(rate)
        if a is None or b is None:
            only = "triton-locust" if a is None else "perf_analyzer"
            lines.append(f"  {rate:>7g} only in {only}")
            continue
        r_thr = b["Inferences/Second"] / a["Inferences/Second"]
        rp = b[p] / a[p]
        below = a["Inferences/Second"] >= 0.98 * rate  # perf_analyzer kept up: below saturation
        if below:
            worst_below = max(worst_below, abs(r_thr - 1), abs(rp - 1))
        lines.append(
            f"  {rate:>7g} {a['Inferences/Second']:>10.1f} {b['Inferences/Second']:>10.1f} "
            f"{r_thr:>6.3f} {a[p]:>9.0f} {b[p]:>9.0f} {rp:>6.3f} "
            f"{b['Scheduled ' + p]:>12.0f} {b['Late requests']:>8.0f}"
            + ("" if below else "  (above saturation)")
        )
    verdict = "within" if worst_below <= TOLERANCE else "NOT within"
    lines.append(
        f"  below saturation: rate and {p[:3]} {verdict} {TOLERANCE:.0%} (worst {worst_below:.1%})"
    )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", default="sleep_5ms")
    parser.add_argument("--protocols", default="http,grpc")
    parser.add_argument("--concurrency-range", default="1:4")
    parser.add_argument(
        "--request-rate-range", help="compare request-rate mode (START:END:STEP) instead"
    )
    parser.add_argument("-p", "--measurement-interval", type=int, default=5000)
    parser.add_argument("--percentile", type=int, default=95)
    parser.add_argument("-s", "--stability-percentage", type=float, default=10)
    parser.add_argument(
        "--collect-metrics",
        action="store_true",
        help="both tools scrape Triton's metrics (--collect-metrics --verbose-csv): compare "
        "their CSV headers and metrics per level",
    )
    parser.add_argument(
        "--metrics-url", help="with --collect-metrics (default: the embedded server's)"
    )
    parser.add_argument(
        "--shared-memory",
        default="none",
        choices=("none", "system"),
        help="both tools put the tensors in system shared memory registered with the server",
    )
    parser.add_argument(
        "--input-data", action="append", default=[], help="a data FILE|DIR for both (repeatable)"
    )
    parser.add_argument("--shape", action="append", default=[], help="NAME:DIMS (repeatable)")
    parser.add_argument("--sequence-length", type=int, help="sequence models: for both")
    parser.add_argument("--async", dest="use_async", action="store_true", help="both --async")
    parser.add_argument("--max-threads", type=int, default=16, help="with --async")
    parser.add_argument(
        "--streaming",
        action="store_true",
        help="both --streaming (gRPC; default model decoupled_stream): also compare the CSV "
        "headers and Response Throughput",
    )
    parser.add_argument("--http-url")
    parser.add_argument("--grpc-url")
    parser.add_argument("--work-dir", help="keep both tools' CSVs and logs here")
    args = parser.parse_args()
    if args.streaming:
        args.protocols = "grpc"
        if args.model == parser.get_default("model"):
            args.model = "decoupled_stream"
    with ExitStack() as stack:
        urls = {"http": args.http_url, "grpc": args.grpc_url}
        if not all(urls.values()):
            from triton_locust.server.launcher import TritonServer, free_ports

            http, grpc, metrics = free_ports(3)
            server = stack.enter_context(TritonServer(http, grpc, metrics))
            urls = {
                "http": args.http_url or server.http_url,
                "grpc": args.grpc_url or server.grpc_url,
            }
            if args.collect_metrics and not args.metrics_url:
                args.metrics_url = f"{server.connect_host}:{server.metrics_port}/metrics"
        work = Path(args.work_dir or tempfile.mkdtemp(prefix="tl-bench-"))
        work.mkdir(parents=True, exist_ok=True)
        report = [
            f"model {args.model}, "
            + (
                f"request rate {args.request_rate_range}, "
                if args.request_rate_range
                else f"concurrency {args.concurrency_range}, "
            )
            + f"-p {args.measurement_interval} ms, stabilising on p{args.percentile}"
            + (f", --shared-memory {args.shared_memory}" if args.shared_memory != "none" else "")
        ]
        for protocol in args.protocols.split(","):
            report += compare(args, protocol, urls[protocol], work)
        print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
