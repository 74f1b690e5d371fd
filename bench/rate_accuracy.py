"""Benchmark: request-rate mode's accuracy and send jitter, perf_analyzer 2.51 and
triton-locust side by side against the same server in one run; then each tool's highest
rate held from one process.

    python bench/rate_accuracy.py                          # identity_fp32, 100/1000/5000 req/s
    python bench/rate_accuracy.py --rates 1000 --protocols grpc -p 2000
    python bench/rate_accuracy.py --ceiling 2000,4000,6000,8000   # highest rate held
    python bench/rate_accuracy.py --rates 100,1000 --async        # both tools with --async
    python bench/rate_accuracy.py --rates 5000 --repeat 5         # 5 rounds, and medians
    python bench/rate_accuracy.py --rates 5000 --replay --repeat 3  # the clients alone

With --repeat N each level runs N times per tool, the tools taking turns to go first, and a
median line follows the rounds: near the server's capacity (5,000 req/s on identity_fp32
here) one round's p99 is decided by the server's own stalls, which differ from run to run
by more than the tools differ.

With --replay (HTTP only) the server is nginx replaying identity_fp32's recorded answers
(bench/client_ceiling.py): it answers in ~50 µs and never stalls, so lateness is the
client's own: its wake-ups, and in triton-locust the Python lock its threads share.

Per rate and protocol, each tool runs one level (`--request-rate-range R`, constant
distribution) with `--profile-export-file`, and we read from both files alike:
- the achieved rate: the requests sent over the span of the measurement windows;
- the send lateness: how far each request left after its slot. Neither file holds the
  slots, so they are rebuilt the same way for both tools: the constant schedule's grid
  (1/R apart) anchored where it fits best, the earliest request on time. Lateness p50/p99/max
  are then comparable between the tools. Ours is also printed as triton-locust measured
  it against its own slots (the CSV's `Late requests` is those later than 1 ms).

The ceiling runs each rate in turn, rising, and prints the highest whose achieved rate is
within 1% of the target, for each tool. When both stop at the same rate, the server is likely the
bound, not the client: bench/client_ceiling.py measures the client alone.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from client_ceiling import MODEL, VERSION, nginx_replay  # noqa: E402
from compare_perf_analyzer import DEFAULT_PA, read_pa_csv, run_tool  # noqa: E402

HELD = 0.99  # a rate is held when at least 99% of it is achieved


def export_figures(path: Path, rate: float) -> dict[str, float]:
    """Achieved rate and grid lateness (µs) of the first experiment of a profile export."""
    experiment = json.loads(path.read_text())["experiments"][0]
    sent = np.sort(np.array([r["timestamp"] for r in experiment["requests"]], dtype=np.int64))
    bounds = experiment["window_boundaries"]
    span_s = (bounds[-1] - bounds[0]) / 1e9 if len(bounds) > 1 else 0.0
    period_ns = 1e9 / rate
    offset = sent - sent[0] - np.arange(len(sent)) * period_ns  # send minus grid slot
    late_us = (offset - offset.min()) / 1e3
    p50, p99 = np.percentile(late_us, [50, 99])
    return {
        "requests": float(len(sent)),
        "achieved": len(sent) / span_s if span_s else float("nan"),
        "late_p50": float(p50),
        "late_p99": float(p99),
        "late_max": float(late_us.max()),
    }


def one_level(
    args: argparse.Namespace,
    tool: str,
    protocol: str,
    url: str,
    rate: float,
    work: Path,
    round_: int = 1,
) -> tuple[dict[str, float], dict[str, float]] | None:
    """One tool's level at `rate`: figures from its export, and its CSV row; None when it
    wrote neither (its log says why)."""
    name = f"{tool}-{protocol}-{rate:g}-{round_}"
    flags = [
        *("-m", args.model, "-u", url, "-i", protocol),
        *(("-x", args.model_version) if args.model_version else ()),
        *("--request-rate-range", f"{rate:g}", "-p", str(args.measurement_interval)),
        *("-s", str(args.stability_percentage), "--percentile", "95"),
        *("--max-threads", str(args.max_threads)),
        *(("--async",) if args.async_calls else ()),
        *("-f", str(work / f"{name}.csv"), "--profile-export-file", str(work / f"{name}.json")),
    ]
    if tool == "pa":
        cmd = [os.environ.get("REFERENCE_PA", str(DEFAULT_PA)), *flags]
    else:
        cmd = [sys.executable, "-m", "triton_locust.cli", "profile", *flags, "--verbose-csv"]
    export, table = work / f"{name}.json", work / f"{name}.csv"
    for old in (export, table):  # perf_analyzer refuses an export file that exists
        old.unlink(missing_ok=True)
    run_tool(cmd, work / f"{name}.log")
    if not export.exists() or not table.exists():  # e.g. perf_analyzer did not settle
        return None
    return export_figures(export, rate), read_pa_csv(table)[rate]


def accuracy(args: argparse.Namespace, urls: dict[str, str], work: Path) -> list[str]:
    lines = [
        f"{'proto':<5} {'rate':>6} {'round':>5} {'PA achieved':>11} {'TL achieved':>11} "
        f"{'PA err':>7} {'TL err':>7} {'PA late p50':>11} {'TL late p50':>11} "
        f"{'PA late p99':>11} {'TL late p99':>11} {'PA max':>8} {'TL max':>8} {'TL >1ms':>8}"
    ]
    for protocol in args.protocols.split(","):
        for rate in (float(r) for r in args.rates.split(",")):
            rounds = []
            for n in range(1, args.repeat + 1):
                # The tools take turns to go first: the server warms and wanders over a run.
                order = ("pa", "tl") if n % 2 else ("tl", "pa")
                levels = {
                    tool: one_level(args, tool, protocol, urls[protocol], rate, work, n)
                    for tool in order
                }
                pa_level, tl_level = levels["pa"], levels["tl"]
                if pa_level is None or tl_level is None:
                    missing = " and ".join(t for t, lvl in levels.items() if lvl is None)
                    lines.append(
                        f"{protocol:<5} {rate:>6g} {n:>5}  no files from {missing}: see {work}"
                    )
                    continue
                (pa, _), (tl, tl_row) = pa_level, tl_level
                rounds.append((pa, tl))
                lines.append(
                    f"{protocol:<5} {rate:>6g} {n:>5} "
                    f"{pa['achieved']:>11.1f} {tl['achieved']:>11.1f} "
                    f"{pa['achieved'] / rate - 1:>+7.2%} {tl['achieved'] / rate - 1:>+7.2%} "
                    f"{pa['late_p50']:>11.0f} {tl['late_p50']:>11.0f} "
                    f"{pa['late_p99']:>11.0f} {tl['late_p99']:>11.0f} "
                    f"{pa['late_max']:>8.0f} {tl['late_max']:>8.0f} "
                    f"{tl_row.get('Late requests', float('nan')):>8.0f}"
                )
            if len(rounds) > 1:
                lines.append(median_line(protocol, rate, rounds))
    lines.append(
        "  achieved: requests in the export over its windows' span; late: µs after the "
        "rebuilt constant grid (same method for both tools); TL >1ms: our own late count"
    )
    return lines


def median_line(protocol: str, rate: float, rounds: list[tuple[dict, dict]]) -> str:
    """Both tools' medians over the rounds, and in how many rounds ours was the lower p99."""

    def median(tool: int, key: str) -> float:
        return float(np.median([r[tool][key] for r in rounds]))

    ours_lower = sum(tl["late_p99"] <= pa["late_p99"] for pa, tl in rounds)
    return (
        f"{protocol:<5} {rate:>6g} {'med':>5} {median(0, 'achieved'):>11.1f} "
        f"{median(1, 'achieved'):>11.1f} {'':>7} {'':>7} "
        f"{median(0, 'late_p50'):>11.0f} {median(1, 'late_p50'):>11.0f} "
        f"{median(0, 'late_p99'):>11.0f} {median(1, 'late_p99'):>11.0f}   "
        f"TL p99 <= PA p99 in {ours_lower} of {len(rounds)} rounds"
    )


def ceiling(args: argparse.Namespace, urls: dict[str, str], work: Path) -> list[str]:
    """Each tool's highest rate held: one run per rate, as in the table above (a sweep
    would end at perf_analyzer's first level that does not settle), rising until a rate is
    not held."""
    rates = [float(r) for r in args.ceiling.split(",")]
    lines = [f"highest rate held within {1 - HELD:.0%} (rates {args.ceiling}):"]
    for protocol in args.protocols.split(","):
        held: dict[str, float] = {}
        for tool in ("pa", "tl"):
            seen = []
            held[tool] = 0.0
            for rate in rates:
                level = one_level(args, tool, protocol, urls[protocol], rate, work)
                achieved = level[0]["achieved"] if level is not None else 0.0
                seen.append(f"{rate:g}: {achieved:.0f}" if level else f"{rate:g}: no files")
                if achieved < HELD * rate:
                    break
                held[tool] = rate
            lines.append(f"  {protocol} {tool}: " + ", ".join(seen))
        lines.append(
            f"  {protocol}: perf_analyzer held {held['pa']:g}/s, triton-locust {held['tl']:g}/s"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", default="identity_fp32")
    parser.add_argument("--protocols", default="http,grpc")
    parser.add_argument("--rates", default="100,1000,5000")
    parser.add_argument("--ceiling", metavar="R1,R2,...", help="also find each tool's ceiling")
    parser.add_argument("-p", "--measurement-interval", type=int, default=3000)
    # Rate and send lateness are the point here, not latency's stability: a generous -s keeps
    # perf_analyzer from giving up a level on a shared machine.
    parser.add_argument("-s", "--stability-percentage", type=float, default=100)
    parser.add_argument("--max-threads", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=1, help="rounds per level (medians)")
    parser.add_argument(
        "--replay", action="store_true", help="HTTP against nginx replaying the model's answers"
    )
    parser.add_argument(
        "--async", dest="async_calls", action="store_true", help="both tools with --async"
    )
    parser.add_argument("--http-url")
    parser.add_argument("--grpc-url")
    parser.add_argument("--work-dir", help="keep both tools' files and logs here")
    args = parser.parse_args()
    args.model_version = None
    if args.replay and (args.protocols != "http" or args.model != MODEL or args.ceiling):
        parser.error(f"--replay is HTTP on {MODEL}'s recorded answers, without --ceiling")
    with ExitStack() as stack:
        urls = {"http": args.http_url, "grpc": args.grpc_url}
        if args.replay:
            urls["http"] = stack.enter_context(nginx_replay(args.http_url))
            args.model_version = VERSION
        elif not all(urls.values()):
            from triton_locust.server.launcher import TritonServer, free_ports

            server = stack.enter_context(TritonServer(*free_ports(3)))
            urls = {
                "http": args.http_url or server.http_url,
                "grpc": args.grpc_url or server.grpc_url,
            }
        work = Path(args.work_dir or tempfile.mkdtemp(prefix="tl-rate-"))
        work.mkdir(parents=True, exist_ok=True)
        calls = "--async" if args.async_calls else "sync"
        report = [
            f"model {args.model}, -p {args.measurement_interval} ms, --max-threads "
            f"{args.max_threads}, {calls}, files in {work}"
            + (f"; server: nginx replaying {MODEL}'s answers" if args.replay else "")
        ]
        report += accuracy(args, urls, work)
        if args.ceiling:
            report += ceiling(args, urls, work)
        print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
