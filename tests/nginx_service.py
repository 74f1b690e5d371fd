"""nginx for the tests that need a proxy in front of Triton: Debian's `nginx-light` (`make
services` installs it), started as a plain process (`daemon off`) on a free loopback port,
with its configuration, pid, logs and temporary files in a folder of the test's own.

`https_proxy(...)` terminates HTTPS in front of Triton's HTTP port, as an ingress does in
production: the server's certificate and key, and optionally a CA whose client certificates
it requires (mutual TLS)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from triton_locust.server import free_ports

NGINX = "/usr/sbin/nginx"
START_TIMEOUT_S = 10


def nginx_binary() -> str:
    found = shutil.which("nginx") or (NGINX if Path(NGINX).exists() else None)
    if found is None:
        pytest.fail("nginx is not installed: `make services` installs it (Debian's nginx-light)")
    return found


def https_config(
    folder: Path, port: int, upstream: str, cert: Path, key: Path, client_ca: Path | None
) -> str:
    # As root, nginx's workers would run as nobody, who cannot enter a test's private folder.
    user = "user root;" if os.geteuid() == 0 else ""
    verify_client = (
        f"ssl_client_certificate {client_ca}; ssl_verify_client on;" if client_ca else ""
    )
    return f"""
{user}
daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {folder}/body;
  proxy_temp_path {folder}/proxy;
  fastcgi_temp_path {folder}/fastcgi;
  uwsgi_temp_path {folder}/uwsgi;
  scgi_temp_path {folder}/scgi;
  keepalive_requests 1000000;
  upstream triton {{ server {upstream}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    {verify_client}
    location / {{
      proxy_pass http://triton;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
"""


@contextmanager
def https_proxy(
    folder: Path, upstream: str, cert: Path, key: Path, client_ca: Path | None = None
) -> Iterator[str]:
    """nginx terminating HTTPS in front of `upstream` (HOST:PORT of Triton's HTTP); yields
    the https:// URL it listens on."""
    config = lambda port: https_config(folder, port, upstream, cert, key, client_ca)  # noqa: E731
    with nginx_running(folder, config) as port:
        yield f"https://127.0.0.1:{port}"


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


# -- proxies that close connections and rewrite framing (issue 12's wire tests) -------------
ACCESS_LOG = "access.log"  # one line a request: "<connection> <its request number>"


def proxy_config(folder: Path, server: str, keepalive_requests: int) -> str:
    """nginx's frame around one `server` block; its access log names each request's
    connection, so that a test can see the connections were closed as asked."""
    user = "user root;" if os.geteuid() == 0 else ""
    return f"""
{user}
daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  log_format conn '$connection $connection_requests $status';
  access_log {folder}/{ACCESS_LOG} conn;
  client_body_temp_path {folder}/body;
  proxy_temp_path {folder}/proxy;
  fastcgi_temp_path {folder}/fastcgi;
  uwsgi_temp_path {folder}/uwsgi;
  scgi_temp_path {folder}/scgi;
  keepalive_requests {keepalive_requests};
  {server}
}}
"""


def grpc_proxy_config(
    folder: Path,
    port: int,
    upstream: str,
    keepalive_requests: int,
    cert: Path | None = None,
    key: Path | None = None,
) -> str:
    """`grpc_pass` to Triton's gRPC port; every `keepalive_requests` requests nginx sends a
    GOAWAY and closes the client's connection. With `cert`: gRPC over TLS (h2 by ALPN)."""
    tls = f"ssl_certificate {cert}; ssl_certificate_key {key};" if cert else ""
    server = f"""
  upstream triton_grpc {{ server {upstream}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port} {"ssl " if cert else ""}http2;
    {tls}
    location / {{ grpc_pass grpc://triton_grpc; }}
  }}"""
    return proxy_config(folder, server, keepalive_requests)


def http_proxy_config(
    folder: Path, port: int, upstream: str, keepalive_requests: int, chunked: bool
) -> str:
    """`proxy_pass` to Triton's HTTP port. `chunked`: a sub_filter (matching nothing) makes
    nginx drop the Content-Length and send every response chunked. Every
    `keepalive_requests` requests a response says `Connection: close`."""
    rewrite = "sub_filter_types *; sub_filter 'no-such-text-anywhere' 'x';" if chunked else ""
    server = f"""
  upstream triton {{ server {upstream}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://triton;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      {rewrite}
    }}
  }}"""
    return proxy_config(folder, server, keepalive_requests)


@contextmanager
def nginx_running(folder: Path, config: Callable[[int], str]) -> Iterator[int]:
    """nginx with the configuration `config(port)` on a free loopback port; yields the port."""
    binary = nginx_binary()
    folder.mkdir(parents=True, exist_ok=True)
    port = free_ports(1)[0]
    conf = folder / "nginx.conf"
    conf.write_text(config(port))
    with (folder / "stderr.log").open("wb") as out:
        proxy = subprocess.Popen(
            [binary, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(conf)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _listening(port):
            if proxy.poll() is not None or time.monotonic() > deadline:
                log = (folder / "error.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"nginx did not start on port {port}:\n{log}")
            time.sleep(0.05)
        yield port
    finally:
        proxy.terminate()
        try:
            proxy.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proxy.kill()
            proxy.wait()


def requests_per_connection(folder: Path) -> dict[str, int]:
    """From the access log: how many requests each connection carried."""
    counts: dict[str, int] = {}
    path = folder / ACCESS_LOG
    for line in path.read_text().splitlines() if path.exists() else []:
        connection, number, _ = line.split()
        counts[connection] = max(counts.get(connection, 0), int(number))
    return counts
