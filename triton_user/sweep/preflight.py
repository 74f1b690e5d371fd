"""Before any load: reach the server, read the model, build its request, and check that the
statistics extension answers. Every failure is one line for the user."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from analysis.settings import SweepSettings
from triton_user.requests.control import ControlError, TritonControl
from triton_user.requests.inputs import InputError
from triton_user.requests.plan import RequestPlan
from triton_user.wire.tls import TlsError, wire_tls


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
    """Raises PreflightError."""
    control: TritonControl | None = None
    try:
        wire_tls(settings)  # a certificate file that cannot be used, named by its flag
        control = TritonControl.of(settings)
        version = control.server_version()
        signature = control.signature(settings.model, settings.model_version)
        plan = RequestPlan.build(settings, signature)
        control.stats(settings.model, settings.model_version)
        config = control.model_config(settings.model, settings.model_version)
        try:
            plan.check_tls()
        except (OSError, ValueError) as exc:
            raise ControlError(f"TLS to {settings.url}: {_one_line(exc)}") from exc
    except (ControlError, InputError, TlsError) as exc:
        if control is not None:
            control.close()
        raise PreflightError(str(exc)) from exc
    return Ready(control, plan, version, config)


def _one_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
