"""Benchmark: a soak. One level at concurrency 8 for an hour (sleep_5ms on the embedded
server by default), printing once a minute the time elapsed, the minute's throughput and
p95, and the load generator's memory (RSS) and open file descriptors; at the end, whether
memory and descriptors stayed flat after the first minutes.

    python bench/soak.py                              # HTTP, 60 minutes
    python bench/soak.py -i grpc --minutes 20         # gRPC
    python bench/soak.py -u HOST:8000 -m identity_fp32 --minutes 10

The level is `triton-locust profile` itself, with one-minute windows (`-p 50000`: a window
lasts 1.2 x -p) and `-s 0`, so that it never settles and runs its `-r` windows to the end;
its exit code 1 (unstable) is expected. RSS and descriptors are those of the profile
process and its children (the workers, with --processes), sampled as each window is
printed. Flat: from minute --settle to the last, RSS grew less than 5% and descriptors by
fewer than 2. The point is memory and descriptors, not throughput: on a shared machine the
throughput may wander.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

RSS_GROWTH = 0.05  # flat: less than 5% more memory ...
FD_GROWTH = 2  # ... and fewer than 2 more descriptors, from --settle to the end
PASS = re.compile(r"Pass \[(\d+)\] throughput: (\S+) infer/sec\. p95 latency: (\S+) usec")


def tree(pid: int) -> list[int]:
    """The process and its descendants (a worker's children included)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


@dataclass
class Minute:
    index: int
    elapsed_s: float
    throughput: float
    p95_ms: float
    rss_mb: float
    fds: int


def verdict(minutes: list[Minute], settle: int) -> tuple[bool, str]:
    """Flat when, from minute `settle` (the first windows warm caches and pools) to the last,
    RSS grew less than RSS_GROWTH and descriptors by fewer than FD_GROWTH."""
    if len(minutes) <= settle:
        return False, f"too short to judge: {len(minutes)} minutes, flatness from minute {settle}"
    base, last = minutes[settle - 1], minutes[-1]
    later = minutes[settle - 1 :]
    rss_growth = last.rss_mb / base.rss_mb - 1
    fd_growth = last.fds - base.fds
    flat = rss_growth < RSS_GROWTH and fd_growth < FD_GROWTH
    return flat, (
        f"{'FLAT' if flat else 'NOT FLAT'}: from minute {settle} to minute {last.index}, "
        f"RSS {base.rss_mb:.1f} -> {last.rss_mb:.1f} MB ({rss_growth:+.1%}, limit "
        f"{RSS_GROWTH:.0%}; max {max(m.rss_mb for m in later):.1f}), descriptors "
        f"{base.fds} -> {last.fds} ({fd_growth:+d}, limit {FD_GROWTH}; "
        f"max {max(m.fds for m in later)})"
    )


def soak(url: str, args: argparse.Namespace, json_path: Path) -> list[Minute]:
    command = [sys.executable, "-m", "triton_locust.cli", "profile", "-m", args.model]
    command += ["-u", url, "-i", args.protocol, "--concurrency-range", str(args.concurrency)]
    window_ms = round(args.window_s * 1000 / 1.2)  # a window lasts 1.2 x -p
    command += ["-p", str(window_ms), "-r", str(args.minutes), "-s", "0", "--percentile", "95"]
    command += ["-v", "--json", str(json_path)]
    if args.processes:
        command += ["--processes", str(args.processes)]
    began = time.monotonic()
    run = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    minutes: list[Minute] = []
    print(f"{'minute':>6} {'elapsed':>8} {'infer/s':>8} {'p95 ms':>7} {'RSS MB':>7} {'fds':>5}")
    assert run.stdout is not None
    try:
        for line in run.stdout:
            match = PASS.search(line)
            if not match:
                if "error" in line.lower() or "warning" in line.lower():
                    print("  " + line.rstrip())
                continue
            pids = tree(run.pid)
            p95 = match.group(3)
            m = Minute(
                int(match.group(1)),
                time.monotonic() - began,
                float(match.group(2)),
                float(p95) / 1000 if p95 != "none" else float("nan"),
                sum(rss_mb(p) for p in pids),
                sum(open_fds(p) for p in pids),
            )
            minutes.append(m)
            print(
                f"{m.index:>6} {m.elapsed_s / 60:>7.1f}m {m.throughput:>8.1f} {m.p95_ms:>7.2f} "
                f"{m.rss_mb:>7.1f} {m.fds:>5}",
                flush=True,
            )
        code = run.wait()
    finally:
        if run.poll() is None:
            run.terminate()
            run.wait(timeout=30)
    print(f"triton-locust profile exited {code} (1: the level never settled, as meant)")
    return minutes


def main() -> int:
    parser = argparse.ArgumentParser(description="a one-level soak: RSS and fds every minute")
    parser.add_argument("-m", "--model", default="sleep_5ms")
    parser.add_argument("-i", "--protocol", default="http", choices=("http", "grpc"))
    parser.add_argument("-u", "--url", help="Triton HOST:PORT (default: the embedded server)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--minutes", type=int, default=60, help="the level's length")
    parser.add_argument("--settle", type=int, default=5, help="flatness is judged from here")
    parser.add_argument("--processes", type=int, help="Locust worker processes")
    parser.add_argument("--window-s", type=float, default=60, help="a 'minute' (for a try-out)")
    args = parser.parse_args()
    from triton_locust.server.launcher import TritonServer, free_ports

    print(
        f"soak: {args.model} over {args.protocol} at concurrency {args.concurrency} for "
        f"{args.minutes} minutes"
    )
    with tempfile.TemporaryDirectory() as tmp:
        json_path = Path(tmp, "soak.json")
        if args.url:
            minutes = soak(args.url, args, json_path)
        else:
            with TritonServer(*free_ports(3)) as server:
                url = server.grpc_url if args.protocol == "grpc" else server.http_url
                minutes = soak(url, args, json_path)
        failed = 0
        if json_path.exists():
            levels = json.loads(json_path.read_text())["levels"]
            failed = sum(w["error_count"] for lvl in levels for w in lvl["windows"])
    print(f"failed requests over the soak: {failed}")
    if minutes:
        first, last = minutes[0], minutes[-1]
        for label, m in (("first", first), (f"minute {args.settle}", None), ("last", last)):
            m = m or (minutes[args.settle - 1] if len(minutes) >= args.settle else None)
            if m is not None:
                print(
                    f"{label:>10}: minute {m.index}, {m.throughput:.1f} infer/s, p95 "
                    f"{m.p95_ms:.2f} ms, RSS {m.rss_mb:.1f} MB, {m.fds} fds"
                )
    flat, text = verdict(minutes, args.settle)
    print(text)
    return 0 if flat else 1


if __name__ == "__main__":
    sys.exit(main())
