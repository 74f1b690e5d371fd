"""Benchmark: what the load generator costs, next to perf_analyzer 2.51, in one run.

For each protocol and concurrency, against the identity model on the embedded server, each
tool runs one long level; in its steady state we sample the tool's CPU time (its whole
process tree, from /proc) and the server's success count twice, 5 s apart:

    CPU per request = CPU used between the samples / requests the server completed

and print both tools' figures with their ratio, plus each tool's throughput and p50, and
the CPU per request of a plain tritonclient loop under gevent (the "before").

With --tls both tools speak TLS with perf_analyzer's flags: gRPC on Triton's own TLS
(--grpc-use-ssl), HTTPS through nginx (Debian's nginx-light) terminating it in front of
Triton's HTTP port; the certificates are made with trustme (the test extra). The plain
tritonclient loop is left out there.

    python bench/client_cost.py [--protocols http,grpc] [--concurrency 1,4] [--tls]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from compare_perf_analyzer import DEFAULT_PA, read_pa_csv  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
MODEL = "identity_fp32"
BASELINE = Path(__file__).with_name("tritonclient_loop.py")


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and all its descendants."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except (OSError, IndexError):
            continue
        todo += [int(c) for c in children]
    return total


def success_count(http_url: str) -> int:
    with urllib.request.urlopen(f"http://{http_url}/v2/models/{MODEL}/stats") as r:
        stats = json.load(r)["model_stats"][0]["inference_stats"]["success"]
    return int(stats["count"])


def measure(
    cmd: list[str], served: Callable[[], int], csv_path: Path, finish_s: float = 300
) -> dict[str, float]:
    """Run one tool's single-level sweep; `served` counts the requests the server answered.
    A tool that has not finished `finish_s` after the samples is stopped: its samples stand,
    `finished` says so (0), and it wrote no CSV."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(6)  # start-up, model discovery, first windows
        cpu0, n0, t0 = tree_cpu_s(proc.pid), served(), time.monotonic()
        time.sleep(5)
        cpu1, n1, t1 = tree_cpu_s(proc.pid), served(), time.monotonic()
        try:
            proc.wait(timeout=finish_s)
        except subprocess.TimeoutExpired:
            pass
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    row = read_pa_csv(csv_path).popitem()[1] if csv_path.exists() else {}
    return {
        "cpu_us_per_request": (cpu1 - cpu0) / max(n1 - n0, 1) * 1e6,
        "cpu_share": (cpu1 - cpu0) / (t1 - t0),
        "server_rps": (n1 - n0) / (t1 - t0),
        "p50_us": row.get("p50 latency", float("nan")),
        "reported_rps": row.get("Inferences/Second", float("nan")),
        "finished": float(proc.returncode >= 0),  # negative: killed here
    }


def make_certs(folder: Path) -> dict[str, Path]:
    """A CA and a server certificate for 127.0.0.1, as PEM files."""
    import trustme

    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    files = {
        "ca": ca.cert_pem.bytes(),
        "cert": b"".join(c.bytes() for c in server.cert_chain_pems),
        "key": server.private_key_pem.bytes(),
    }
    for name, data in files.items():
        Path(folder, f"{name}.pem").write_bytes(data)
    return {name: Path(folder, f"{name}.pem") for name in files}


@contextmanager
def https_proxy(folder: Path, upstream: str, certs: dict[str, Path]) -> Iterator[str]:
    """nginx terminating HTTPS in front of Triton's HTTP port; yields its https:// URL."""
    from triton_locust.server.launcher import free_ports

    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_ports(1)[0]
    user = "user root;" if os.geteuid() == 0 else ""  # root's workers: nobody, no tmp access
    conf = Path(folder, "nginx.conf")
    conf.write_text(
        f"""{user} daemon off; worker_processes 1; pid {folder}/nginx.pid;
error_log {folder}/error.log warn; events {{ worker_connections 1024; }}
http {{ access_log off; keepalive_requests 100000000; keepalive_timeout 600s;
  client_body_temp_path {folder}/body; proxy_temp_path {folder}/proxy;
  fastcgi_temp_path {folder}/fastcgi; uwsgi_temp_path {folder}/uwsgi;
  scgi_temp_path {folder}/scgi;
  upstream triton {{ server {upstream}; keepalive 64; }}
  server {{ listen 127.0.0.1:{port} ssl; ssl_certificate {certs["cert"]};
    ssl_certificate_key {certs["key"]};
    location / {{ proxy_pass http://triton; proxy_http_version 1.1;
      proxy_set_header Connection ""; }} }} }}
"""
    )
    proc = subprocess.Popen(
        [nginx, "-p", str(folder), "-e", f"{folder}/error.log", "-c", str(conf)],
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    message = "nginx did not start (apt-get install nginx-light)"
                    raise RuntimeError(message) from None
                time.sleep(0.05)
        yield f"https://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description="client CPU per request vs perf_analyzer")
    parser.add_argument("--protocols", default="http,grpc")
    parser.add_argument("--concurrency", default="1,4")
    parser.add_argument(
        "--tls",
        action="store_true",
        help="both tools over TLS: gRPC on Triton's own TLS, HTTPS through nginx",
    )
    args = parser.parse_args()
    from triton_locust.server.launcher import GrpcTls, TritonServer, free_ports

    pa = os.environ.get("REFERENCE_PA", str(DEFAULT_PA))
    lines = []
    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        certs = make_certs(Path(tmp)) if args.tls else {}
        grpc_tls = GrpcTls(certs["cert"], certs["key"], certs["ca"]) if args.tls else None
        server = stack.enter_context(TritonServer(*free_ports(3), grpc_tls=grpc_tls))
        urls = {"grpc": server.grpc_url, "http": server.http_url}
        tls_flags: dict[str, list[str]] = {"grpc": [], "http": []}
        if args.tls:
            nginx_dir = Path(tmp, "nginx")
            nginx_dir.mkdir()
            urls["http"] = stack.enter_context(https_proxy(nginx_dir, server.http_url, certs))
            tls_flags = {
                "grpc": ["--ssl-grpc-use-ssl", "--ssl-grpc-root-certifications-file"],
                "http": ["--ssl-https-ca-certificates-file"],
            }
            tls_flags = {k: [*v, str(certs["ca"])] for k, v in tls_flags.items()}
        for protocol in args.protocols.split(","):
            url = urls[protocol]
            for c in args.concurrency.split(","):
                flags = [
                    "-m",
                    MODEL,
                    "-u",
                    url,
                    "-i",
                    protocol,
                    "--concurrency-range",
                    c,
                    "-p",
                    "4000",
                    "-r",
                    "3",
                    "-s",
                    "100",  # exactly 3 windows, accepted however noisy: both write a CSV
                    *tls_flags[protocol],
                ]
                pa_csv, tl_csv = (
                    Path(tmp, f"pa{protocol}{c}.csv"),
                    Path(tmp, f"tl{protocol}{c}.csv"),
                )
                count = lambda: success_count(server.http_url)  # noqa: E731
                a = measure([pa, *flags, "-f", str(pa_csv)], count, pa_csv)
                tl = [sys.executable, "-m", "triton_locust.cli", "profile", *flags]
                b = measure([*tl, "-f", str(tl_csv)], count, tl_csv)
                # The baseline: tritonclient's own clients in a gevent loop (no CSV, no p50).
                loop = [sys.executable, str(BASELINE), protocol, url, MODEL, c, "14"]
                nan = {"cpu_us_per_request": float("nan")}
                base = nan if args.tls else measure(loop, count, Path(tmp, "none.csv"))
                lines.append(
                    f"{protocol:>5} {c:>4} {a['cpu_us_per_request']:>8.0f} "
                    f"{b['cpu_us_per_request']:>8.0f} "
                    f"{b['cpu_us_per_request'] / a['cpu_us_per_request']:>6.2f} "
                    f"{base['cpu_us_per_request']:>8.0f} "
                    f"{a['server_rps']:>8.0f} {b['server_rps']:>8.0f} "
                    f"{a['p50_us']:>7.0f} {b['p50_us']:>7.0f} {b['p50_us'] - a['p50_us']:>+6.0f}"
                )
    over = "; over TLS (gRPC: Triton's own; HTTP: nginx in front)" if args.tls else ""
    print(
        f"model {MODEL}{over}; CPU per request (us) = client process-tree CPU / server "
        "successes;"
    )
    print("TC: a plain loop of tritonclient calls under gevent (bench/tritonclient_loop.py)")
    print(
        f"{'proto':>5} {'conc':>4} {'PA cpu':>8} {'TL cpu':>8} {'ratio':>6} {'TC cpu':>8} "
        f"{'PA rps':>8} "
        f"{'TL rps':>8} {'PA p50':>7} {'TL p50':>7} {'p50 +':>6}"
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
