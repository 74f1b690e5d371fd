"""A Locust master and its workers for one sweep: worker processes on this machine
(`profile --processes N`), or workers elsewhere that connect (`profile --master`). Only
workers that speak the master's histogram wire version count (window_channel.VersionGate)."""

from __future__ import annotations

import subprocess
import sys
import time

import gevent
from locust.env import Environment
from locust.runners import MasterRunner

from triton_user.sweep.window_channel import VersionGate

WORKERS_TIMEOUT_S = 120.0


class ClusterError(Exception):
    """The workers did not all come; one line for the user."""


def worker_command(master_host: str, master_port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "triton_locust.cli",
        "worker",
        "--master-host",
        master_host,
        "--master-port",
        str(master_port),
    ]


class Cluster:
    def __init__(
        self,
        environment: Environment,
        expect_workers: int,
        local_workers: int = 0,
        bind_host: str = "*",
        bind_port: int = 5557,
    ) -> None:
        self.environment = environment
        self.expect_workers = expect_workers
        self.local_workers = local_workers
        self.bind_host, self.bind_port = bind_host, bind_port
        self._processes: list[subprocess.Popen[bytes]] = []
        self.runner: MasterRunner | None = None

    def start(self, timeout_s: float = WORKERS_TIMEOUT_S) -> MasterRunner:
        try:
            runner = self.environment.create_master_runner(self.bind_host, self.bind_port)
        except OSError as exc:  # the port is taken
            raise ClusterError(
                f"cannot listen on {self.bind_host}:{self.bind_port}: {exc}"
            ) from exc
        self.runner = runner
        gate = VersionGate.of(self.environment)  # before any worker can connect
        host = "127.0.0.1" if self.bind_host in ("*", "0.0.0.0") else self.bind_host
        for _ in range(self.local_workers):
            self._processes.append(subprocess.Popen(worker_command(host, self.bind_port)))
        deadline = time.monotonic() + timeout_s
        while gate.admitted_count() < self.expect_workers:
            if any(p.poll() is not None for p in self._processes):
                refusals = list(gate.refused.values())
                raise ClusterError(
                    refusals[0] if refusals else "a local worker process exited before the sweep "
                    "began"
                )
            if time.monotonic() > deadline:
                refused = f" ({len(gate.refused)} refused)" if gate.refused else ""
                raise ClusterError(
                    f"only {gate.admitted_count()} of {self.expect_workers} workers connected "
                    f"within {timeout_s:.0f} s{refused}"
                )
            gevent.sleep(0.1)
        return runner

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.runner is not None:
            self.runner.quit()  # tells the workers to quit
        deadline = time.monotonic() + timeout_s
        for process in self._processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
