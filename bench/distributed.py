"""Benchmark: one sweep level driven by a Locust master over 1 and over 2 local worker
processes, against the identity model on the embedded server. Prints requests per second
(the server's count), the master's CPU share, and each worker's memory (RSS) when the
level's windows begin and when they end.

    python bench/distributed.py                   # a short level (about 15 s)
    python bench/distributed.py --minutes 10 --workers 2   # does worker memory stay flat?
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
MODEL = "identity_fp32"


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def success_count(http_url: str) -> int:
    with urllib.request.urlopen(f"http://{http_url}/v2/models/{MODEL}/stats") as r:
        return int(json.load(r)["model_stats"][0]["inference_stats"]["success"]["count"])


def run_level(http_url: str, workers: int, concurrency: int, seconds: float) -> str:
    window_ms = max(1000, int(seconds * 1000 / 3.6))  # three windows of 1.2x
    with tempfile.TemporaryDirectory() as tmp:
        master = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "triton_locust.cli",
                "profile",
                "-m",
                MODEL,
                "-u",
                http_url,
                "--concurrency-range",
                str(concurrency),
                "-p",
                str(window_ms),
                "-r",
                "3",
                "-s",
                "100",
                "--processes",
                str(workers),
                "--json",
                str(Path(tmp, "r.json")),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # The windows begin 2-3 s after launch (workers up, users spawned) and last
        # `seconds`: both samples fall inside them.
        time.sleep(8)
        pids = children(master.pid)
        rss0 = [rss_mb(p) for p in pids]
        c0, n0, t0 = cpu_s(master.pid), success_count(http_url), time.monotonic()
        time.sleep(max(2.0, seconds - 9))
        c1, n1, t1 = cpu_s(master.pid), success_count(http_url), time.monotonic()
        rss1 = [rss_mb(p) for p in pids]
        master.wait(timeout=seconds + 120)
    return (
        f"{workers:>7} {concurrency:>5} {(n1 - n0) / (t1 - t0):>9.0f} "
        f"{(c1 - c0) / (t1 - t0):>10.1%}   "
        + ", ".join(f"{a:.0f}->{b:.0f}" for a, b in zip(rss0, rss1, strict=True))
    )


def main() -> int:
    parser = argparse.ArgumentParser(description="1 vs 2 Locust workers")
    parser.add_argument("--minutes", type=float, default=0.25)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", default="1,2", help="worker counts to run, e.g. 1,2")
    args = parser.parse_args()
    from triton_locust.server.launcher import TritonServer, free_ports

    lines = []
    with TritonServer(*free_ports(3)) as server:
        for workers in (int(w) for w in args.workers.split(",")):
            lines.append(run_level(server.http_url, workers, args.concurrency, args.minutes * 60))
    print(f"model {MODEL}, one level of {args.minutes:g} min; server-counted requests/s")
    print(f"{'workers':>7} {'conc':>5} {'req/s':>9} {'master CPU':>10}   worker RSS MB start->end")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
