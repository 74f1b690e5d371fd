"""Prometheus's Pushgateway for the tests that push: Debian's `prometheus-pushgateway`
(`make services` installs it), started as a plain process on a free loopback port, in
memory only, once per test session. A test module takes it with
`from tests.pushgateway_service import pushgateway_url  # noqa: F401`."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator

import pytest

from triton_locust.server import free_ports

BINARY = "prometheus-pushgateway"
START_TIMEOUT_S = 30


def pushgateway_binary() -> str:
    found = shutil.which(BINARY) or shutil.which(BINARY, path="/usr/bin")  # PATH may lack it
    if found is None:
        pytest.fail(f"{BINARY} is not installed: `make services` installs it (Debian's package)")
    return found


@pytest.fixture(scope="session")
def pushgateway_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = pushgateway_binary()
    port = free_ports(1)[0]
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("pushgateway") / "pushgateway.log"
    with log.open("wb") as out:
        gateway = subprocess.Popen(
            [
                binary,
                f"--web.listen-address=127.0.0.1:{port}",
                "--persistence.file=",  # in memory: each session starts empty
                "--log.level=warn",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _ready(url):
            if gateway.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{BINARY} did not start on port {port}:\n{log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield url
    finally:
        gateway.terminate()
        try:
            gateway.wait(timeout=10)
        except subprocess.TimeoutExpired:
            gateway.kill()
            gateway.wait()


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/-/ready", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False
