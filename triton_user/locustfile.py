"""The locustfile of a triton-locust sweep (see locustfiles/triton_sweep.py for its use)."""

import signal
import sys
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import WorkerRunner

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


@events.init.add_listener
def _sigterm_ends_sweep(environment: Environment, **_: Any) -> None:
    """Locust 2.18, headless with a load shape, runs the whole test inside
    start_automatic_run() and installs its SIGTERM handler only after it returns: a SIGTERM
    mid-sweep killed the process, its files saying the sweep completed. Stop the sweep
    instead, as `triton-locust profile` does: the level under way is kept as interrupted,
    the files are written, and the sweep's exit status (130) is Locust's."""
    options = environment.parsed_options
    if options is None or not getattr(options, "headless", False):
        return  # the web UI's main loop leaves Locust's own handler in place in time
    if isinstance(environment.runner, WorkerRunner):
        return  # a worker is not blocked: Locust's handler quits it
    gevent.signal_handler(signal.SIGTERM, lambda: interrupt(environment))


def interrupt(environment: Environment) -> None:
    shape = environment.shape_class
    sweep = shape.sweep if isinstance(shape, ConcurrencySweepShape) else None
    if sweep is not None:
        sweep.stop()  # its end ends the shape, then Locust shuts down with its exit code
    else:  # no sweep yet (its preflight, or waiting for workers): nothing to keep
        if environment.runner is not None:
            environment.runner.quit()
        # Raised in this greenlet, gevent hands SystemExit to the main one: Locust may be
        # in its wait for --expect-workers, which a quit alone does not end.
        sys.exit(130)


__all__ = ["ConcurrencySweepShape", "TritonUser"]
