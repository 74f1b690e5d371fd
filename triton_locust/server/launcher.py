"""The embedded Triton Inference Server: the tritonserver 2.51 binary shipped in the
`nvidia-pytriton` wheel, on CPU, with our sample Python-backend models.

What it takes to run that binary outside pytriton (see shared reference notes): its shared
libraries on LD_LIBRARY_PATH, the Python backend's stub copied next to the backend in a
folder of our own (never into site-packages), and our venv first on PATH so the stub
imports numpy from it."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

SAMPLE_MODELS = Path(__file__).resolve().parent / "models"
# tritonserver binds every interface by default; ours serves this machine unless told.
LOOPBACK = "127.0.0.1"
SHM_DIR = "/dev/shm"
_EVERY_INTERFACE = ("0.0.0.0", "::", "")


class ServerStartError(Exception):
    """The server did not come up; the message says why in one line, then the log's tail."""


@dataclass(frozen=True)
class GrpcTls:
    """Triton's own TLS on its gRPC port (PEM files): its certificate chain and key, and the
    CA its clients' certificates are checked against; `mutual`: a client must present one.
    HTTP and metrics stay plain (Triton's HTTP has no TLS: a proxy terminates it)."""

    server_cert: Path
    server_key: Path
    root_cert: Path | None = None
    mutual: bool = False

    def flags(self) -> list[str]:
        flags = [
            "--grpc-use-ssl=true",
            f"--grpc-server-cert={self.server_cert}",
            f"--grpc-server-key={self.server_key}",
        ]
        if self.root_cert is not None:
            flags.append(f"--grpc-root-cert={self.root_cert}")
        if self.mutual:
            flags.append("--grpc-use-ssl-mutual=true")
        return flags


def free_ports(count: int) -> list[int]:
    """Free loopback TCP ports (held open together so they differ)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def port_in_use(host: str, port: int) -> bool:
    """Whether something listens on host:port. SO_REUSEADDR lets the test bind over a port
    that only has connections closing (TIME_WAIT), which tritonserver can bind too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def _pytriton_dirs() -> tuple[Path, Path]:
    """(tritonserver folder, nvidia_pytriton.libs folder) of the installed wheel."""
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise ServerStartError(
            "the embedded server needs nvidia-pytriton: pip install 'triton-locust[server]'"
        )
    package = Path(next(iter(spec.submodule_search_locations)))
    server, libs = package / "tritonserver", package.parent / "nvidia_pytriton.libs"
    if not (server / "bin" / "tritonserver").exists():
        raise ServerStartError(f"no tritonserver binary in {server}")
    return server, libs


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block is over, then come as they would have.
    Around Popen: raised between its fork and its return, they would leave a server that
    nobody holds (Popen does not stop a child it was interrupted returning)."""
    wanted = (signal.SIGINT, signal.SIGTERM)
    handlers = {s: signal.getsignal(s) for s in wanted}
    # Only the main thread can set handlers; one set outside Python cannot be put back.
    if threading.current_thread() is not threading.main_thread() or None in handlers.values():
        yield
        return
    caught: list[int] = []
    for s in wanted:
        signal.signal(s, lambda signum, _frame: caught.append(signum))
    try:
        yield
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)
        for s in caught:
            signal.raise_signal(s)


class TritonServer:
    def __init__(
        self,
        http_port: int = 8000,
        grpc_port: int = 8001,
        metrics_port: int = 8002,
        model_repository: str | Path | None = None,
        log_verbose: int = 0,
        host: str = LOOPBACK,
        grpc_tls: GrpcTls | None = None,
    ) -> None:
        self.http_port, self.grpc_port, self.metrics_port = http_port, grpc_port, metrics_port
        self.grpc_tls = grpc_tls
        self.host = host  # the address all three ports are bound to
        self.shm_prefix = f"triton_locust_{os.getpid()}_{self.http_port}_"
        self.model_repository = Path(model_repository or SAMPLE_MODELS).resolve()
        self.log_verbose = log_verbose
        self._workdir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        # The log of a server that died or did not start, kept once its folder is gone.
        self.kept_log: Path | None = None

    @property
    def connect_host(self) -> str:
        """Where a client on this machine reaches the server."""
        host = LOOPBACK if self.host in _EVERY_INTERFACE else self.host
        return f"[{host}]" if ":" in host else host

    http_url = property(lambda self: f"{self.connect_host}:{self.http_port}")
    grpc_url = property(lambda self: f"{self.connect_host}:{self.grpc_port}")
    metrics_url = property(lambda self: f"http://{self.connect_host}:{self.metrics_port}/metrics")

    @property
    def log_path(self) -> Path:
        assert self._workdir is not None, "not started"
        return self._workdir / "tritonserver.log"

    def __enter__(self) -> TritonServer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self, timeout_s: float = 90.0) -> None:
        if not self.model_repository.is_dir():
            raise ServerStartError(f"model repository {self.model_repository} is not a folder")
        # A server already listening there would answer our readiness check for us.
        for port in (self.http_port, self.grpc_port, self.metrics_port):
            if port_in_use(self.host, port):
                raise ServerStartError(f"port {port} on {self.host} is in use (another server?)")
        server_dir, libs = _pytriton_dirs()
        self._workdir = Path(tempfile.mkdtemp(prefix="triton-locust-server-"))
        backends = self._backends(server_dir)
        command = [
            str(server_dir / "bin" / "tritonserver"),
            f"--model-repository={self.model_repository}",
            f"--backend-directory={backends}",
            f"--http-address={self.host}",
            f"--http-port={self.http_port}",
            f"--grpc-address={self.host}",
            f"--grpc-port={self.grpc_port}",
            f"--metrics-address={self.host}",
            f"--metrics-port={self.metrics_port}",
            "--allow-metrics=true",
            f"--log-verbose={self.log_verbose}",
            # The Python backend's regions in /dev/shm, named so that stop() can remove
            # those a killed server leaves behind (a SIGKILL gives it no time to).
            f"--backend-config=python,shm-region-prefix-name={self.shm_prefix}",
            *(self.grpc_tls.flags() if self.grpc_tls else []),
        ]
        try:
            with self.log_path.open("wb") as log, _signals_held():
                self._process = subprocess.Popen(
                    command,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self._env(libs),
                    start_new_session=True,  # a Ctrl-C to us is ours to forward, not the server's
                )
            self._wait_ready(timeout_s)
        except ServerStartError as exc:
            self.stop(keep_log=True)
            raise ServerStartError(f"{exc} (log: {self.kept_log})") from None
        except BaseException:  # Ctrl-C or SIGTERM while it starts: no server left behind
            self.stop()
            raise

    def _backends(self, server_dir: Path) -> Path:
        """A backends folder of our own: the Python backend with the stub for our Python."""
        backends = self._workdir / "backends"  # type: ignore[operator]
        shutil.copytree(server_dir / "backends" / "python", backends / "python")
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        stub = server_dir / "python_backend_stubs" / version / "triton_python_backend_stub"
        if not stub.exists():
            raise ServerStartError(
                f"no Python backend stub for Python {version} in nvidia-pytriton"
            )
        shutil.copy2(stub, backends / "python" / stub.name)
        return backends

    @staticmethod
    def _env(libs: Path) -> dict[str, str]:
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            filter(None, [str(libs), env.get("LD_LIBRARY_PATH")])
        )
        # The stub imports numpy from whatever environment it inherits: make it ours.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        site = [p for p in sys.path if p.endswith("site-packages")]
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [*site, env.get("PYTHONPATH")]))
        return env

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        url = f"http://{self.http_url}/v2/health/ready"
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise ServerStartError(
                    f"tritonserver exited with code {self._process.returncode}: "
                    f"{self._log_reason()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise ServerStartError(
            f"tritonserver not ready after {timeout_s:.0f} s: {self._log_reason()}"
        )

    def _log_reason(self) -> str:
        """The most telling line of the server's log: its first error, else its last line."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "no log"
        errors = [ln for ln in lines if ln.startswith("E") or "error" in ln.lower()]
        return (errors or lines or ["empty log"])[0 if errors else -1].strip()

    def stop(self, timeout_s: float = 20.0, keep_log: bool = False) -> None:
        """Stop the server and remove its folder; the log is kept (see `kept_log`) when
        the server exited on its own, or when asked: a crash must stay diagnosable."""
        process, self._process = self._process, None
        keep_log = keep_log or (process is not None and process.poll() is not None)
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for region in Path(SHM_DIR).glob(f"{self.shm_prefix}*"):
            region.unlink(missing_ok=True)
        if self._workdir is not None:
            if keep_log:
                self.kept_log = self._keep_log()
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def _keep_log(self) -> Path | None:
        """Move the log out of the folder about to be removed, beside it in the temp dir."""
        fd, kept = tempfile.mkstemp(prefix="triton-locust-server-", suffix=".log")
        os.close(fd)
        try:
            shutil.move(self.log_path, kept)
        except OSError:
            Path(kept).unlink(missing_ok=True)
            return None
        return Path(kept)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def model_names(self) -> list[str]:
        request = urllib.request.Request(f"http://{self.http_url}/v2/repository/index", data=b"{}")
        with urllib.request.urlopen(request, timeout=5) as response:
            return sorted(m["name"] for m in json.load(response) if m.get("state") == "READY")


def serve_forever(
    http_port: int = 8000,
    grpc_port: int = 8001,
    metrics_port: int = 8002,
    model_repository: str | None = None,
    host: str = LOOPBACK,
) -> int:
    """`triton-locust serve`: run until Ctrl-C or SIGTERM; either stops the server (even
    while it is still starting) and returns 0, without a traceback."""
    server = TritonServer(http_port, grpc_port, metrics_port, model_repository, host=host)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        print("Starting Triton Inference Server ...", flush=True)
        server.start()
        print(f"Triton Inference Server ready (log: {server.log_path})")
        print(f"  HTTP     {server.http_url}")
        print(f"  gRPC     {server.grpc_url}")
        print(f"  metrics  {server.metrics_url}")
        print(f"  models   {_models(server)}")
        if host != LOOPBACK:
            print(f"  listening on {host or 'every interface'}: anyone who reaches it may use it")
        print("Ctrl-C to stop.", flush=True)
        while server.running:
            time.sleep(0.5)
        reason = server._log_reason()
        server.stop()  # it exited on its own: the log is kept, out of the removed folder
        print(
            f"triton-locust serve: error: tritonserver exited: {reason} (log: {server.kept_log})",
            file=sys.stderr,
        )
        return 1
    except ServerStartError as exc:
        print(f"triton-locust serve: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nStopping Triton Inference Server ...", flush=True)
        return 0
    finally:
        # A second Ctrl-C or SIGTERM must not cut the shutdown short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        server.stop()


def _models(server: TritonServer) -> str:
    try:
        return ", ".join(server.model_names())
    except OSError as exc:  # ready but not answering the index: say so, keep serving
        return f"(could not list them: {exc})"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
