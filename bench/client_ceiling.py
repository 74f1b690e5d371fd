"""Benchmark: how many requests per second one load-generator process can send over HTTP
when the server is not the limit, next to perf_analyzer 2.51, in one run.

On these machines Triton's Python backend cannot serve 10,000 requests/s (2 cores shared
with the client), so the server here is nginx replaying Triton's own answers: the real
embedded server is started once, its metadata, config, statistics and its response to the
exact request triton-locust sends are recorded, the server is stopped, and nginx (one
worker process) returns those bytes for every request. The output's bytes are replaced by
printable ones of the same length (nginx's `return` takes text); neither tool reads them.

Both tools run the same sweep flags against it; in each level's steady state we sample the
tool's CPU (process tree) and nginx's request count twice:

    python bench/client_ceiling.py [--concurrency 1,4,8,16]   # target: >= 10,000 req/s

Needs nginx (Debian: apt-get install nginx-light). This measures the load generator only:
no figure from it says anything about Triton.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from client_cost import MODEL, measure  # noqa: E402
from compare_perf_analyzer import DEFAULT_PA  # noqa: E402

TARGET_RPS = 10_000
# A level of 3 windows of 4.8 s takes about 20 s; a tool not done well after is stopped.
FINISH_S = 90
# Both tools name the version: without it, perf_analyzer finds the model's version as the
# one whose statistics changed over a window, and replayed statistics never change.
VERSION = "1"
# What either tool reads before and during a sweep (perf_analyzer: metadata, config,
# statistics; triton-locust: the same plus the server's metadata).
GET_PATHS = (
    "/v2",
    "/v2/health/live",
    "/v2/health/ready",
    *(
        f"/v2/models/{MODEL}{version}{endpoint}"
        for version in ("", f"/versions/{VERSION}")
        for endpoint in ("", "/ready", "/config", "/stats")
    ),
)


def record_triton(http_url: str, request: bytes) -> tuple[dict[str, bytes], bytes, int]:
    """Triton's answers to GET_PATHS, and its response (body, inference header length) to
    the inference request `request` (a whole HTTP request, as triton-locust sends it)."""
    answers = {}
    for path in GET_PATHS:
        with urllib.request.urlopen(f"http://{http_url}{path}") as r:
            answers[path] = r.read()
    host, port = http_url.rsplit(":", 1)
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read()
        header_length = int(response.getheader("Inference-Header-Content-Length", len(body)))
    if response.status != 200:
        raise RuntimeError(f"Triton answered the inference request with {response.status}")
    return answers, body, header_length


def _nginx_text(data: bytes) -> str:
    text = data.decode("ascii")
    if re.search(r"[$'\\\x00-\x1f]", text):  # nginx would interpolate or need escapes
        raise RuntimeError(f"cannot replay {text[:60]!r}... from nginx's `return`")
    return text


def nginx_config(
    workdir: Path, port: int, answers: dict[str, bytes], body: bytes, header_length: int
) -> str:
    gets = "\n".join(
        f"    location = {path} {{ default_type application/json; "
        f"return 200 '{_nginx_text(data)}'; }}"
        for path, data in answers.items()
    )
    # The binary output: printable bytes of the same length stand in for Triton's floats.
    replay = _nginx_text(body[:header_length]) + "A" * (len(body) - header_length)
    return f"""
worker_processes 1;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 600s;
  client_body_temp_path {workdir}/body;
  proxy_temp_path {workdir}/proxy;
  fastcgi_temp_path {workdir}/fastcgi;
  uwsgi_temp_path {workdir}/uwsgi;
  scgi_temp_path {workdir}/scgi;
  server {{
    listen 127.0.0.1:{port};
{gets}
    location ~ ^/v2/models/{MODEL}(/versions/{VERSION})?/infer$ {{
      default_type application/octet-stream;
      add_header Inference-Header-Content-Length {header_length};
      return 200 '{replay}';
    }}
    location = /nginx_status {{ stub_status; }}
  }}
}}
"""


def served(port: int) -> int:
    """Requests nginx has answered (its stub_status counter, this request included)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/nginx_status") as r:
        return int(r.read().decode().splitlines()[2].split()[2])


@contextmanager
def nginx_replay(triton_http_url: str | None = None) -> Iterator[str]:
    """nginx replaying the identity model's answers, as recorded from a real server (the one
    at `triton_http_url`, or an embedded one started and stopped for it); yields its
    host:port. Clients must name the model's version (VERSION)."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise RuntimeError("needs nginx (apt-get install nginx-light)")
    from analysis.settings import SweepSettings
    from triton_locust.server.launcher import TritonServer, free_ports
    from triton_user.requests.plan import RequestPlan

    port = free_ports(1)[0]
    with ExitStack() as stack:
        if triton_http_url is None:
            triton_http_url = stack.enter_context(TritonServer(*free_ports(3))).http_url
        # The request as triton-locust will send it to nginx (its Host header included).
        settings = SweepSettings(model=MODEL, model_version=VERSION, url=triton_http_url)
        plan = RequestPlan.discover(settings)
        answers, body, header_length = record_triton(triton_http_url, plan.payload)
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp, "nginx.conf")
        conf.write_text(nginx_config(Path(tmp), port, answers, body, header_length))
        proc = subprocess.Popen([nginx, "-c", str(conf)], stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    served(port)
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("nginx did not start") from None
                    time.sleep(0.1)
            yield f"127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description="one process's request rate, vs perf_analyzer")
    parser.add_argument("--concurrency", default="1,4,8,16")
    args = parser.parse_args()
    pa = os.environ.get("REFERENCE_PA", str(DEFAULT_PA))
    lines = []
    stack = ExitStack()
    try:
        url = stack.enter_context(nginx_replay())
    except RuntimeError as exc:
        print(f"client_ceiling: {exc}", file=sys.stderr)
        return 2
    port = int(url.rsplit(":", 1)[1])
    count = lambda: served(port)  # noqa: E731
    with stack, tempfile.TemporaryDirectory() as tmp:
        for c in args.concurrency.split(","):
            flags = ["-m", MODEL, "-x", VERSION, "-u", url, "-i", "http"]
            flags += ["--concurrency-range", c]
            flags += ["-p", "4000", "-r", "3", "-s", "100"]
            pa_csv, tl_csv = Path(tmp, f"pa{c}.csv"), Path(tmp, f"tl{c}.csv")
            a = measure([pa, *flags, "-f", str(pa_csv)], count, pa_csv, FINISH_S)
            tl = [sys.executable, "-m", "triton_locust.cli", "profile", *flags]
            b = measure([*tl, "-f", str(tl_csv)], count, tl_csv, FINISH_S)
            unfinished = [n for n, r in (("PA", a), ("TL", b)) if not r["finished"]]
            note = f"  ({' and '.join(unfinished)}: level not finished)" if unfinished else ""
            lines.append(
                f"{c:>4} {a['server_rps']:>8.0f} {b['server_rps']:>8.0f} "
                f"{b['server_rps'] / a['server_rps']:>6.2f} "
                f"{a['reported_rps']:>8.0f} {b['reported_rps']:>8.0f} "
                f"{a['cpu_share']:>7.0%} {b['cpu_share']:>7.0%} "
                f"{a['cpu_us_per_request']:>7.1f} {b['cpu_us_per_request']:>7.1f} "
                f"{'yes' if b['server_rps'] >= TARGET_RPS else 'no':>7}{note}"
            )
    print(f"HTTP, {MODEL}'s recorded answers replayed by nginx; rps: counted by nginx;")
    print("own: the tool's own CSV figure (its stable windows); CPU: the tool's process")
    print("tree, as a share of one core and per request")
    print(
        f"{'conc':>4} {'PA rps':>8} {'TL rps':>8} {'ratio':>6} {'PA own':>8} {'TL own':>8} "
        f"{'PA cpu':>7} {'TL cpu':>7} "
        f"{'PA us':>7} {'TL us':>7} {'>=10k':>7}"
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
