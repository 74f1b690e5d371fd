"""The control plane: server liveness and version, a model's signature, and the statistics
extension. Not on the hot path, so it uses tritonclient's own clients over the same
protocol as the load, as perf_analyzer does."""

from __future__ import annotations

import re
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from analysis.server_stats import ServerStats
from analysis.settings import SweepSettings, TlsSettings, authority, is_https
from triton_user.requests.inputs import ModelSignature
from triton_user.wire.tls import client_tls

_grpcio_lock = threading.Lock()
_grpcio_ready = False


def _make_grpcio_cooperative() -> None:
    """tritonclient's gRPC client is grpcio, which blocks the whole gevent hub unless told
    about gevent once, before its first channel."""
    global _grpcio_ready
    with _grpcio_lock:
        if not _grpcio_ready:
            from gevent import monkey

            if monkey.is_module_patched("socket"):
                from grpc.experimental import gevent as grpc_gevent

                grpc_gevent.init_gevent()
            _grpcio_ready = True


class ControlError(Exception):
    """The server or model cannot be used; the message is one line for the user."""


class TritonControl:
    def __init__(
        self,
        url: str,
        protocol: str = "http",
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 10.0,
        tls: TlsSettings | None = None,
    ) -> None:
        """`tls`: the --ssl-* settings; TLS is on for an https:// URL over HTTP, with
        --ssl-grpc-use-ssl over gRPC, as for the load. Raises TlsError (a certificate file
        that cannot be used)."""
        self.url = authority(url)
        self.protocol = protocol
        self._over = protocol  # how the errors name the way we reach the server
        self._headers = dict(headers or {})
        self._timeout_s = timeout_s
        self._context: ssl.SSLContext | None = None  # HTTPS's
        tls = tls or TlsSettings()
        if protocol == "grpc":
            # gRPC metadata keys must be lower-case (HTTP/2); grpcio refuses others.
            self._headers = {k.lower(): v for k, v in self._headers.items()}
            _make_grpcio_cooperative()
            import tritonclient.grpc as grpcclient

            secure: dict[str, Any] = {}
            if tls.ssl_grpc_use_ssl:  # grpcio reads the files itself, as perf_analyzer's grpc
                secure = {
                    "ssl": True,
                    "root_certificates": tls.ssl_grpc_root_certifications_file or None,
                    "private_key": tls.ssl_grpc_private_key_file or None,
                    "certificate_chain": tls.ssl_grpc_certificate_chain_file or None,
                }
                self._over = "gRPC with TLS"
            self._client: Any = grpcclient.InferenceServerClient(self.url, **secure)
        else:
            import tritonclient.http as httpclient

            secure = {}
            if is_https(url):
                # Our context, so that the control plane checks what the load's connections
                # check (libcurl's verify-peer and verify-host, DER client certificates);
                # it does the checking, so geventhttpclient's own name match stays off.
                context = self._context = client_tls(tls, "http").context
                secure = {"ssl": True, "ssl_context_factory": lambda: context, "insecure": True}
                self._over = "HTTPS"
            self._client = httpclient.InferenceServerClient(
                self.url, connection_timeout=timeout_s, network_timeout=timeout_s, **secure
            )

    @classmethod
    def of(cls, settings: SweepSettings, timeout_s: float = 10.0) -> TritonControl:
        """The control plane of a sweep's settings (URL, protocol, headers, TLS)."""
        return cls(settings.url, settings.protocol, settings.headers, timeout_s, settings.tls)

    def close(self) -> None:
        self._client.close()

    def _call(self, what: str, fn: Any, *args: Any, returns_json: bool = True) -> Any:
        """Run one tritonclient call; any failure becomes one line naming `what`."""
        kwargs: dict[str, Any] = {"headers": self._headers or None}
        if self.protocol == "grpc":
            kwargs["client_timeout"] = self._timeout_s  # grpcio's deadline, with every call
            if returns_json:
                kwargs["as_json"] = True
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # tritonclient raises many types: socket, gRPC, its own
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ControlError(f"{what}: {message}") from exc

    def server_version(self) -> str:
        """Checks the server answers and is live; returns its version."""
        where = f"cannot reach Triton at {self.url} over {self._over}"
        live = self._call(where, self._client.is_server_live, returns_json=False)
        if not live:
            raise ControlError(f"Triton at {self.url} is not live{self._not_live_because()}")
        return str(self._call(where, self._client.get_server_metadata).get("version", ""))

    def _not_live_because(self) -> str:
        """Over HTTP, what answered the liveness probe instead of Triton's 200: a proxy in
        front of it says why (nginx: '400 No required SSL certificate was sent'), in its
        page's title. tritonclient keeps only 'not 200'; this asks once more, failing only."""
        if self.protocol != "http":
            return ""
        scheme = "https" if self._context is not None else "http"
        request = urllib.request.Request(
            f"{scheme}://{self.url}/v2/health/live", headers=self._headers
        )
        try:
            urllib.request.urlopen(request, timeout=self._timeout_s, context=self._context).close()
        except urllib.error.HTTPError as exc:
            page = exc.read(4096).decode("utf-8", "replace")
            title = re.search(r"<title>(.*?)</title>", page, re.S | re.I)
            said = " ".join((title.group(1) if title else page).split())[:160]
            return f" (HTTP {exc.code}{': ' + said if said else ''} over {self._over})"
        except (OSError, ValueError):
            pass
        return ""

    def signature(self, model: str, version: str = "") -> ModelSignature:
        # -x 99 of a model that exists: the version is what is missing, so say it.
        named = f"model {model!r}" + (f" version {version}" if version else "")
        what = f"{named} on {self.url}"
        ready = self._call(what, self._client.is_model_ready, model, version, returns_json=False)
        if not ready:
            raise ControlError(f"{named} is not loaded and ready on {self.url}")
        metadata = self._call(what, self._client.get_model_metadata, model, version)
        return ModelSignature.from_metadata(metadata, self.model_config(model, version))

    def model_config(self, model: str, version: str = "") -> dict[str, Any]:
        """The model's configuration as the server holds it (the results file records it)."""
        named = f"model {model!r}" + (f" version {version}" if version else "")
        config = self._call(f"{named} on {self.url}", self._client.get_model_config, model, version)
        # gRPC's JSON wraps the config in {"config": ...}; HTTP's is the config itself.
        return dict(config.get("config", config))

    def stats(self, model: str, version: str = "") -> ServerStats:
        """Cumulative statistics of the model version that served the requests."""
        data = self._call(
            f"statistics of model {model!r}",
            self._client.get_inference_statistics,
            model,
            version,
        )
        entries = data.get("model_stats", [])
        if version:
            entries = [e for e in entries if str(e.get("version")) == version]
        if not entries:
            raise ControlError(f"no statistics for model {model!r} on {self.url}")
        # Unspecified version: the one with the most requests is the one perf_analyzer picks.
        return max((ServerStats.from_extension(e) for e in entries), key=lambda s: s.success_count)

    # The system shared-memory extension (--shared-memory system) -------------------------
    def register_system_shared_memory(self, name: str, key: str, byte_size: int) -> None:
        """Tell the server of a region: it maps `key` (a POSIX shm name) itself."""
        self._call(
            f"registering shared memory region {name!r} with Triton at {self.url}",
            self._client.register_system_shared_memory,
            name,
            key,
            byte_size,
            returns_json=False,
        )

    def unregister_system_shared_memory(self, name: str) -> None:
        """Forget one region of ours (never every region: other runs may have some)."""
        self._call(
            f"unregistering shared memory region {name!r} from Triton at {self.url}",
            self._client.unregister_system_shared_memory,
            name,
            returns_json=False,
        )

    def system_shared_memory_regions(self) -> list[str]:
        """The names of the system shared-memory regions the server has registered."""
        status = self._call(
            f"shared memory status of Triton at {self.url}",
            self._client.get_system_shared_memory_status,
        )
        # HTTP's JSON is a list of regions; gRPC's a {"regions": {name: region}} map.
        if isinstance(status, dict):
            return sorted(status.get("regions", {}))
        return sorted(str(region["name"]) for region in status)
