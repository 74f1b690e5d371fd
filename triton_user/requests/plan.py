"""What every user of a process sends: the model's request, encoded once for the chosen
protocol, and how to open a connection for it."""

from __future__ import annotations

from dataclasses import dataclass

from analysis.settings import SweepSettings, authority, host_port
from triton_user.requests.control import TritonControl
from triton_user.requests.inputs import ModelSignature, build_inputs
from triton_user.wire import grpc_client, http_client
from triton_user.wire.sockets import connect
from triton_user.wire.tls import wire_tls

InferClient = http_client.HttpInferClient | grpc_client.GrpcInferClient


@dataclass(frozen=True)
class RequestPlan:
    settings: SweepSettings
    signature: ModelSignature
    payload: bytes  # the request's whole wire form, reused for every request

    @classmethod
    def build(cls, settings: SweepSettings, signature: ModelSignature) -> RequestPlan:
        """Raises InputError when the model's inputs cannot be built from the settings."""
        tensors = build_inputs(
            signature,
            batch_size=settings.batch_size,
            input_data=settings.input_data,
            shapes=settings.shapes,
            string_length=settings.string_length,
        )
        if settings.protocol == "grpc":
            payload = grpc_client.encode_request(
                settings.model, settings.model_version, tensors, signature.outputs
            )
        else:
            payload = http_client.encode_request(
                authority(settings.url),
                settings.model,
                settings.model_version,
                tensors,
                signature.outputs,
                settings.headers,
            )
        return cls(settings, signature, payload)

    @classmethod
    def discover(cls, settings: SweepSettings) -> RequestPlan:
        """Ask the server for the model's signature, then build. Raises ControlError or
        InputError with a one-line message."""
        control = TritonControl.of(settings)
        try:
            return cls.build(settings, control.signature(settings.model, settings.model_version))
        finally:
            control.close()

    def new_client(self) -> InferClient:
        """A connection of the settings' client_io: blocking sockets for a user in an OS
        thread ("threads"), gevent's for a cooperative one ("gevent"); over TLS, in the
        context built once for these settings."""
        timeout_s = self.settings.request_timeout_ms / 1000
        tls = wire_tls(self.settings)
        if self.settings.protocol == "grpc":
            return grpc_client.GrpcInferClient(
                self.settings.url,
                self.settings.headers,
                timeout_s=timeout_s,
                client_io=self.settings.client_io,
                tls=tls,
            )
        return http_client.HttpInferClient(
            self.settings.url, timeout_s=timeout_s, client_io=self.settings.client_io, tls=tls
        )

    def check_tls(self) -> None:
        """One TLS handshake as the users' connections will make it (their context, ALPN,
        libcurl's name check without verify-peer), before any load: a certificate the
        users would refuse is one error now rather than one per request. Raises OSError or
        ValueError (ssl's errors are both)."""
        tls = wire_tls(self.settings)
        if tls is None:
            return
        timeout_s = min(self.settings.request_timeout_ms / 1000, 10.0)
        connect(host_port(self.settings.url), timeout_s, self.settings.client_io, tls).close()

    @property
    def request_type(self) -> str:
        """The request type Locust's statistics and UI show."""
        return "gRPC" if self.settings.protocol == "grpc" else "HTTP"
