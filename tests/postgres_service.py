"""A real PostgreSQL 15 server for the history's tests: Debian's `postgresql` package's
binaries (`make services` installs them), run as a plain process (no systemd, no cluster
of the package's own) in a temporary folder, on a free port of 127.0.0.1, with password
authentication. Once per test session; stopped after it.

Use it with `from tests.postgres_service import postgres_url  # noqa: F401` and mark the
test `server` (a real service it needs)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Debian's package puts each major version in a folder of its own: take the newest.
PG_BIN = max(
    Path("/usr/lib/postgresql").glob("*/bin"),
    key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    default=Path("/usr/lib/postgresql/15/bin"),
)
USER, PASSWORD, DATABASE = "triton", "hist-s3cret", "triton_locust_history"
START_TIMEOUT_S = 30


def _binary(name: str) -> str:
    path = PG_BIN / name
    if not os.access(path, os.X_OK):
        pytest.fail(
            f"{path} not found: PostgreSQL from Debian's `postgresql` package is needed "
            "(`make services` installs it)"
        )
    return str(path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user() -> dict[str, Any]:
    """postgres refuses to run as root: as root, run it as the `postgres` OS user the
    package created; as anyone else, as oneself."""
    if os.geteuid() != 0:
        return {}
    return {"user": "postgres", "group": "postgres", "extra_groups": []}


def _check_marked(request: pytest.FixtureRequest) -> None:
    """`-m "not server"` must leave out every test that needs this server too."""
    unmarked = [
        item.nodeid
        for item in request.session.items
        if "postgres_url" in getattr(item, "fixturenames", ())
        and item.get_closest_marker("server") is None
    ]
    if unmarked:
        pytest.fail(f"these tests use the postgres_url fixture: mark them `server`: {unmarked}")


@pytest.fixture(scope="session")
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """postgresql://USER:PASSWORD@127.0.0.1:PORT/DATABASE of a fresh, empty server."""
    _check_marked(request)
    initdb, postgres, createdb = _binary("initdb"), _binary("postgres"), _binary("createdb")
    as_user = _as_server_user()
    # Not pytest's tmp_path: its folders are root's alone, and the server's user must
    # write here.
    base = Path(tempfile.mkdtemp(prefix="triton-locust-pg-"))
    if as_user:
        shutil.chown(base, "postgres", "postgres")
    data, log_path = base / "data", base / "postgres.log"
    env = {**os.environ, "HOME": str(base), "LC_ALL": "C"}
    password_file = base / "password"
    password_file.write_text(PASSWORD + "\n")
    if as_user:
        shutil.chown(password_file, "postgres", "postgres")
    done = subprocess.run(
        [
            initdb,
            "-D",
            str(data),
            "-U",
            USER,
            f"--pwfile={password_file}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",  # over TCP, as a team's server: the URL's password
            "--encoding=UTF8",
            "--no-sync",
        ],
        env=env,
        cwd=base,
        capture_output=True,
        text=True,
        **as_user,
    )
    if done.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"initdb failed: {done.stderr.strip()[-2000:]}")
    port = _free_port()
    log = open(log_path, "w")  # closed once the server has stopped
    server = subprocess.Popen(
        [
            postgres,
            "-D",
            str(data),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-k",
            str(base),  # its socket here, not in /var/run/postgresql
            "-c",
            "fsync=off",  # a test's throwaway data: no need to survive a power cut
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ],
        env=env,
        cwd=base,
        stdout=log,
        stderr=subprocess.STDOUT,
        **as_user,
    )
    try:
        _wait_ready(server, port, log_path)
        made = subprocess.run(
            [createdb, "-h", "127.0.0.1", "-p", str(port), "-U", USER, DATABASE],
            env={**env, "PGPASSWORD": PASSWORD},
            capture_output=True,
            text=True,
            timeout=30,
        )
        if made.returncode != 0:
            pytest.fail(f"createdb failed: {made.stderr.strip()}")
        yield f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{port}/{DATABASE}"
    finally:
        _stop(server)
        log.close()
        shutil.rmtree(base, ignore_errors=True)


def _wait_ready(server: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    pg_isready = _binary("pg_isready")
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"postgres exited ({server.returncode}): {log_path.read_text()[-2000:]}")
        ready = subprocess.run(
            [pg_isready, "-q", "-h", "127.0.0.1", "-p", str(port)], capture_output=True
        )
        if ready.returncode == 0:
            return
        time.sleep(0.1)
    pytest.fail(f"postgres not ready in {START_TIMEOUT_S} s: {log_path.read_text()[-2000:]}")


def _stop(server: subprocess.Popen[bytes]) -> None:
    """SIGINT: PostgreSQL's fast shutdown (SIGTERM would wait for every client to leave)."""
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGINT)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
