"""What all users of one process share: the encoded request, the recorder the sweep cuts
windows from, and the buffer that hands threaded users' timings to Locust's request event.
It hangs on Locust's Environment as `environment.triton`.

Locust's statistics (its table, CSV and HTML report) get one row per level: the requests
are named after the level, `MODEL c=N`. One process learns the level from the sweep's
level_started; a Locust worker from the master's discard at the start of each level
(triton_user/sweep/window_channel.py), kept as `environment.triton_level`.

In request-rate mode the users send at the slots of the gate; one process follows the
sweep's rate, a Locust worker its share of it, as the master deals it at each level
(`environment.triton_rate`, kept for users that start after it came)."""

from __future__ import annotations

from dataclasses import dataclass, field

from locust.env import Environment
from locust.runners import WorkerRunner

from analysis.pacer import RateShare
from triton_user.requests.plan import RequestPlan
from triton_user.sweep.pacing import RateGate
from triton_user.sweep.recorder import Recorder
from triton_user.sweep.request_loop import EventBuffer
from triton_user.wire.timing import Timing

# The option a master sets for its workers: how many parts the sequence IDs are split into.
SEQUENCE_PARTS = "triton_sequence_parts"


class RequestFailed(Exception):
    """What Locust's statistics and UI show for a failed request."""


@dataclass
class ProcessState:
    """Shared by all users of one process: the encoded request, the recorder, and the
    buffer that hands threaded users' timings to Locust's request event."""

    plan: RequestPlan
    recorder: Recorder
    events: EventBuffer = field(init=False)
    gate: RateGate = field(default_factory=RateGate)  # request-rate mode's slots
    environment: Environment | None = None
    level: int | None = None  # the concurrency the requests are sent at now
    request_name: str = field(init=False)

    def __post_init__(self) -> None:
        self.events = EventBuffer(self.fire, paced=self.plan.settings.rate_mode)
        self.recorder.paced = self.plan.settings.rate_mode
        self.set_level(self.level)

    def set_level(self, concurrency: float | None) -> None:
        """Name the requests after their level, from now on (a rate in request-rate mode)."""
        self.level = concurrency
        model = self.plan.settings.model
        if concurrency is None:
            self.request_name = model
        elif self.plan.settings.rate_mode:
            self.request_name = f"{model} rate={concurrency:g}"
        else:
            self.request_name = f"{model} c={concurrency}"

    def follow_rate(self, share: RateShare | None, since_ns: int | None = None) -> None:
        """Request-rate mode: send at this share of a level's schedule from now, or from
        `since_ns` (monotonic ns); None pauses the users."""
        if share is None:
            self.gate.pause()
        else:
            self.gate.start(share.pacer(), since_ns)

    def level_started(self, concurrency: float) -> None:
        """The sweep's event (one process): before the level's users start."""
        self.set_level(concurrency)

    def fire(self, t: Timing) -> None:
        """Locust's request event for one request: its statistics and UI show it."""
        assert self.environment is not None
        self.environment.events.request.fire(
            request_type=self.plan.request_type,
            name=self.request_name,
            response_time=(t.end_ns - t.start_ns) / 1e6,
            response_length=t.response_bytes,
            exception=None if t.error is None else RequestFailed(t.error),
            context=None,
        )


def attach(environment: Environment, plan: RequestPlan) -> ProcessState:
    # A Locust worker records histograms: they are what it ships to the master.
    histograms = getattr(environment, "triton_histograms", False)
    level = getattr(environment, "triton_level", None) or (
        plan.settings.rate.start if plan.settings.rate_mode else plan.settings.concurrency_start
    )
    state = ProcessState(plan, Recorder(histogram=histograms), environment=environment, level=level)
    runner, sequences = environment.runner, getattr(plan, "sequences", None)
    if sequences is not None and isinstance(runner, WorkerRunner):
        # The master counts the workers' indexes before the load (SEQUENCE_PARTS): each
        # worker sends its own part of the correlation IDs.
        parts = getattr(environment.parsed_options, SEQUENCE_PARTS, 1) or 1
        sequences.split(runner.worker_index, int(parts))
    # A worker's share may come before its first user builds this state (the plan asks the
    # server for the model first): its slots are due from when it came, none is skipped.
    pending = getattr(environment, "triton_rate", None)
    if pending is not None:
        state.follow_rate(*pending)
    environment.triton = state  # type: ignore[attr-defined]
    return state
