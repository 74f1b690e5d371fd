"""What all users of one process share: the encoded request, the recorder the sweep cuts
windows from, and the buffer that hands threaded users' timings to Locust's request event.
It hangs on Locust's Environment as `environment.triton`."""

from __future__ import annotations

from dataclasses import dataclass, field

from locust.env import Environment

from triton_user.requests.plan import RequestPlan
from triton_user.sweep.recorder import Recorder
from triton_user.sweep.request_loop import EventBuffer
from triton_user.wire.timing import Timing


class RequestFailed(Exception):
    """What Locust's statistics and UI show for a failed request."""


@dataclass
class ProcessState:
    """Shared by all users of one process: the encoded request, the recorder, and the
    buffer that hands threaded users' timings to Locust's request event."""

    plan: RequestPlan
    recorder: Recorder
    events: EventBuffer = field(init=False)
    environment: Environment | None = None

    def __post_init__(self) -> None:
        self.events = EventBuffer(self.fire)

    def fire(self, t: Timing) -> None:
        """Locust's request event for one request: its statistics and UI show it."""
        assert self.environment is not None
        self.environment.events.request.fire(
            request_type=self.plan.request_type,
            name=self.plan.settings.model,
            response_time=(t.end_ns - t.start_ns) / 1e6,
            response_length=t.response_bytes,
            exception=None if t.error is None else RequestFailed(t.error),
            context=None,
        )


def attach(environment: Environment, plan: RequestPlan) -> ProcessState:
    # A Locust worker records histograms: they are what it ships to the master.
    histograms = getattr(environment, "triton_histograms", False)
    state = ProcessState(plan, Recorder(histogram=histograms), environment=environment)
    environment.triton = state  # type: ignore[attr-defined]
    return state
