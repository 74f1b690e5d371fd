"""Issue 12: our wire clients through what stands in front of Triton in production, real
nginx (Debian's nginx-light) in front of the session's real Triton:

- `grpc_pass` with `keepalive_requests 100`: a GOAWAY every 100 requests on each
  connection. A sweep through it counts what the server served, with no error and no
  request lost; the access log shows the connections were closed every 100 requests.
- the same over TLS (`listen ... ssl http2`, certificates made with trustme);
- `proxy_pass` with a sub_filter: every HTTP response chunked, with no Content-Length;
- `proxy_pass` with `keepalive_requests 50`: `Connection: close` every 50 responses."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import trustme

from tests.helpers import load_levels, profile
from tests.nginx_service import (
    grpc_proxy_config,
    http_proxy_config,
    nginx_running,
    requests_per_connection,
)
from tests.test_profile_e2e import FAST, assert_counts_match_server

MODEL = "identity_fp32"
KEEPALIVE_REQUESTS = 100


def sweep(tmp_path: Path, *flags: str) -> tuple[subprocess.CompletedProcess[str], list[dict]]:
    out = tmp_path / "perf.json"
    run = profile("-m", MODEL, "--concurrency-range", "1:2", *FAST, *flags, "--json", str(out))
    assert "Traceback" not in run.stderr, run.stderr
    assert out.exists(), run.stderr
    return run, load_levels(out)


def assert_no_errors_and_counts_match(
    run: subprocess.CompletedProcess[str], levels: list[dict], protocol: str
) -> None:
    assert run.returncode in (0, 1), run.stderr  # 1: a level unstable on a noisy machine
    assert [level["concurrency"] for level in levels] == [1, 2]
    errors = [w["error_count"] for level in levels for w in level["windows"]]
    assert sum(errors) == 0, (errors, run.stdout[-2000:])
    assert_counts_match_server(levels, protocol=protocol)


def assert_closed_every(folder: Path, n: int) -> None:
    """nginx closed the client's connections after n requests each (many of them)."""
    per_connection = requests_per_connection(folder)
    assert max(per_connection.values()) == n, per_connection
    assert sum(1 for count in per_connection.values() if count == n) >= 10, per_connection


@pytest.mark.server
@pytest.mark.parametrize("client_io", ["threads", "gevent"])
def test_grpc_through_goaway_every_100_requests_loses_nothing(triton_server, tmp_path, client_io):
    folder = tmp_path / "nginx"
    config = lambda port: grpc_proxy_config(  # noqa: E731
        folder, port, triton_server.grpc_url, KEEPALIVE_REQUESTS
    )
    with nginx_running(folder, config) as port:
        run, levels = sweep(
            tmp_path, "-u", f"127.0.0.1:{port}", "-i", "grpc", "--client-io", client_io
        )
    assert_no_errors_and_counts_match(run, levels, "grpc")
    assert_closed_every(folder, KEEPALIVE_REQUESTS)


@pytest.mark.server
def test_grpc_over_tls_through_goaway_every_100_requests_loses_nothing(triton_server, tmp_path):
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1")
    cert, key, ca_file = tmp_path / "server.pem", tmp_path / "server.key", tmp_path / "ca.pem"
    cert.write_bytes(b"".join(c.bytes() for c in server_cert.cert_chain_pems))
    key.write_bytes(server_cert.private_key_pem.bytes())
    ca_file.write_bytes(ca.cert_pem.bytes())
    folder = tmp_path / "nginx"
    config = lambda port: grpc_proxy_config(  # noqa: E731
        folder, port, triton_server.grpc_url, KEEPALIVE_REQUESTS, cert, key
    )
    with nginx_running(folder, config) as port:
        run, levels = sweep(
            tmp_path,
            *("-u", f"127.0.0.1:{port}", "-i", "grpc", "--ssl-grpc-use-ssl"),
            *("--ssl-grpc-root-certifications-file", str(ca_file)),
        )
    assert_no_errors_and_counts_match(run, levels, "grpc")
    assert_closed_every(folder, KEEPALIVE_REQUESTS)
    assert json.loads((tmp_path / "perf.json").read_text())["settings"]["tls"]


@pytest.mark.server
@pytest.mark.parametrize("client_io", ["threads", "gevent"])
def test_chunked_http_responses_without_content_length_count_what_was_served(
    triton_server, tmp_path, client_io
):
    folder = tmp_path / "nginx"
    config = lambda port: http_proxy_config(  # noqa: E731
        folder, port, triton_server.http_url, 1_000_000, chunked=True
    )
    with nginx_running(folder, config) as port:
        run, levels = sweep(tmp_path, "-u", f"127.0.0.1:{port}", "--client-io", client_io)
    assert_no_errors_and_counts_match(run, levels, "http")


@pytest.mark.server
def test_http_connection_close_every_50_responses_costs_no_error(triton_server, tmp_path):
    folder = tmp_path / "nginx"
    config = lambda port: http_proxy_config(  # noqa: E731
        folder, port, triton_server.http_url, 50, chunked=False
    )
    with nginx_running(folder, config) as port:
        run, levels = sweep(tmp_path, "-u", f"127.0.0.1:{port}")
    assert_no_errors_and_counts_match(run, levels, "http")
    assert_closed_every(folder, 50)
