"""ConcurrencySweepShape: Locust's load shape for a sweep. It starts the sweep's first level;
the sweep (triton_user/sweep/locust_sweep.py) moves the level when the stabiliser says so,
and the shape ends the test after the last level."""

from __future__ import annotations

import logging

from locust import LoadTestShape

from triton_user.options import from_locust_options
from triton_user.sweep.locust_sweep import LocustSweep, PreflightError

log = logging.getLogger(__name__)


class ConcurrencySweepShape(LoadTestShape):
    def __init__(self, sweep: LocustSweep | None = None) -> None:
        super().__init__()
        self.sweep = sweep  # given by `triton-locust profile`; otherwise made from options

    def reset_time(self) -> None:
        """Locust calls this on each start: a new start from the web UI is a new sweep."""
        super().reset_time()
        if self.sweep is not None and self.sweep.done:
            self.sweep = None

    def tick(self) -> tuple[int, float] | None:
        if self.sweep is None and not self._start_from_options():
            return None
        sweep = self.sweep
        assert sweep is not None
        if sweep.done:
            return None
        return sweep.first_tick

    def _start_from_options(self) -> bool:
        """The `locust -f` way (command line or web UI form)."""
        environment = self.runner.environment if self.runner else None
        if environment is None:
            return False
        try:
            settings, outputs = from_locust_options(environment.parsed_options)
            sweep = LocustSweep(environment, settings, outputs)
            sweep.preflight()
        except (ValueError, PreflightError) as exc:
            log.error("triton-locust: %s", exc)
            environment.process_exit_code = 2
            return False
        sweep.start()
        self.sweep = sweep
        return True
