"""ConcurrencySweepShape: Locust's load shape for a sweep. It starts the sweep's first level;
the sweep (triton_user/sweep/locust_sweep.py) moves the level when the stabiliser says so,
and the shape ends the test after the last level.

Started from the web UI, the sweep is built and checked when Start is pressed (`prepare`,
called by the Triton tab's start handler, triton_user/web/), so that bad input is said in the
form before any load; headless, at the shape's first tick."""

from __future__ import annotations

import logging
import time

import gevent
from locust import LoadTestShape
from locust.env import Environment
from locust.runners import MasterRunner

from triton_user.options import from_locust_options, same_host
from triton_user.sweep.locust_sweep import LocustSweep, PreflightError
from triton_user.web import TritonTab

log = logging.getLogger(__name__)

# Start pressed while the last sweep still writes its files: wait this long for it.
PREVIOUS_SWEEP_WAIT_S = 30.0


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
        if not sweep.started:  # prepared by the web UI's Start
            sweep.start()
        if sweep.done:
            return None
        return sweep.first_tick

    def prepare(self) -> str | None:
        """The web UI's Start: a new sweep from the options the form set, checked before any
        load (the server, the model, the result files). None when it is ready to start,
        else the one line saying what is wrong."""
        environment = self.runner.environment if self.runner else None
        if environment is None:
            return "no Locust runner"
        previous = self.sweep
        if previous is not None and not previous.done:
            previous.stop()
            previous.finished.wait(PREVIOUS_SWEEP_WAIT_S)
        # Locust ignores a Start ("an ongoing shape test") until its shape worker has
        # returned from stopping the last test, which on a master waits for the workers:
        # a Start pressed right after a sweep ended would silently do nothing. (The last sweep,
        # done, makes its tick return None, which ends that worker.)
        runner = environment.runner
        deadline = time.monotonic() + PREVIOUS_SWEEP_WAIT_S
        while runner is not None and runner.shape_greenlet is not None:
            if runner.shape_greenlet.dead or time.monotonic() > deadline:
                break
            gevent.sleep(0.05)
        self.sweep = None  # only now: meanwhile the old shape worker's tick ends on the done one
        if isinstance(environment.runner, MasterRunner) and environment.runner.worker_count == 0:
            return self._refused(
                environment,
                "no Locust worker is connected yet: start one with `locust -f "
                "locustfiles/triton_sweep.py --worker --master-host MASTER`",
            )
        try:
            self.sweep = self._build(environment)
        except (ValueError, PreflightError) as exc:
            return self._refused(environment, str(exc))
        return None

    def _start_from_options(self) -> bool:
        """The `locust -f` way, headless (or a start the web UI did not prepare)."""
        environment = self.runner.environment if self.runner else None
        if environment is None:
            return False
        try:
            sweep = self._build(environment)
        except (ValueError, PreflightError) as exc:
            self._refused(environment, str(exc))
            return False
        sweep.start()
        self.sweep = sweep
        return True

    def _build(self, environment: Environment) -> LocustSweep:
        """The sweep the options describe, checked. Raises ValueError or PreflightError."""
        same_host(environment)  # Locust's --host, or the Host box, is the Triton URL
        settings, outputs = from_locust_options(environment.parsed_options)
        tab = TritonTab.of(environment)
        if tab is not None:  # started from the web UI: its results are always kept
            outputs = tab.outputs_for(settings, outputs)
        sweep = LocustSweep(environment, settings, outputs)
        sweep.preflight()
        environment.host = settings.url  # Locust's report names the server it measured
        if tab is not None:
            tab.watch(sweep)
        return sweep

    @staticmethod
    def _refused(environment: Environment, message: str) -> str:
        log.error("triton-locust: %s", message)
        tab = TritonTab.of(environment)
        if tab is None:
            environment.process_exit_code = 2  # headless: bad input, nothing was sent
        else:
            tab.refused(message)  # the web UI says it where Start was pressed
        return message
