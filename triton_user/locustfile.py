"""The locustfile of a triton-locust sweep (see locustfiles/triton_sweep.py for its use)."""

from typing import Any

from locust import events
from locust.env import Environment

from triton_user.options import register
from triton_user.shape import ConcurrencySweepShape
from triton_user.user import TritonUser
from triton_user.web import install

register()


@events.init.add_listener
def _triton_tab(environment: Environment, web_ui: Any = None, **_: Any) -> None:
    """The Triton tab on Locust's web UI (one process, or the master of workers)."""
    if web_ui is not None and getattr(environment, "triton_tab", None) is None:
        install(environment, web_ui)


__all__ = ["ConcurrencySweepShape", "TritonUser"]
