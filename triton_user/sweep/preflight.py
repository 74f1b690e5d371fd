"""Before any load: reach the server, read the model, build its request (with
--shared-memory system, in regions registered with the server), and check that the
statistics extension answers. Every failure is one line for the user, and leaves no region
behind."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from analysis.model_config import is_decoupled
from analysis.settings import SweepSettings
from triton_user.requests.control import ControlError, TritonControl
from triton_user.requests.inputs import InputError
from triton_user.requests.plan import RequestPlan
from triton_user.requests.shared_memory import SharedRegions
from triton_user.wire.tls import TlsError, wire_tls

# perf_analyzer's words (perf_analyzer.cc): a decoupled model answers only on a stream.
DECOUPLED_NEEDS_STREAMING = (
    "Decoupled models must be run with `--async` and `--streaming` and either `-i grpc` or "
    "`--service-kind=triton_c_api`"
)


class PreflightError(Exception):
    """The sweep cannot start: one line for the user."""


@dataclass
class Ready:
    """What a sweep starts with: the control connection it polls statistics on, the request
    every user sends, the server's version and the model's configuration."""

    control: TritonControl
    plan: RequestPlan
    server_version: str
    model_config: dict[str, Any] = field(default_factory=dict)


def preflight(settings: SweepSettings) -> Ready:
    """Raises PreflightError. The plan's shared-memory regions, if any, are the caller's to
    release (plan.regions) once the sweep is over."""
    control: TritonControl | None = None
    regions: SharedRegions | None = None
    try:
        wire_tls(settings)  # a certificate file that cannot be used, named by its flag
        control = TritonControl.of(settings)
        version = control.server_version()
        signature = control.signature(settings.model, settings.model_version)
        if settings.shared_memory != "none":
            # Their own connection: they are released once the users stop, after the sweep
            # has closed its own (requests in flight keep a region in use until answered).
            wait_s = min(settings.request_timeout_ms / 1000, 30.0) + 2.0
            regions = SharedRegions(TritonControl.of(settings), in_use_wait_s=wait_s)
        plan = RequestPlan.build(settings, signature, regions)
        control.stats(settings.model, settings.model_version)
        config = control.model_config(settings.model, settings.model_version)
        if is_decoupled(config) and not settings.streaming:
            raise ControlError(f"model {settings.model}: {DECOUPLED_NEEDS_STREAMING}")
        try:
            plan.check_tls()
        except (OSError, ValueError) as exc:
            raise ControlError(f"TLS to {settings.url}: {_one_line(exc)}") from exc
    except BaseException as exc:  # Ctrl-C too: no region is left behind
        release(regions)
        if control is not None:
            control.close()
        if isinstance(exc, ControlError | InputError | TlsError):
            raise PreflightError(str(exc)) from exc
        raise
    return Ready(control, plan, version, config)


def release(regions: SharedRegions | None) -> None:
    """Give back a sweep's shared-memory regions; what could not be is said on stderr."""
    if regions is None:
        return
    for line in regions.release():
        print(f"triton-locust: {line}", file=sys.stderr)


def _one_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
