"""What a sweep tells as it goes, and who listens: the console, the result files, the closing
recommendation (triton_user/outputs/), and whatever else subscribes (a web UI tab).

Listeners implement any of the methods of SweepListener; the sweep calls them in order. A
listener that fails is logged and left out of later events, never allowed to end the
measurement: what was measured matters more than any one way of showing it."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from analysis.results import LevelResult, SweepResult
from analysis.settings import SweepSettings
from analysis.stabiliser import Verdict
from analysis.window import Window

log = logging.getLogger(__name__)


class SweepListener(Protocol):
    def model_read(self, model_config: Mapping[str, Any]) -> None:
        """The model's configuration, as the server gave it before any load."""

    def sweep_started(self, settings: SweepSettings) -> None: ...

    def level_started(self, concurrency: int) -> None: ...

    def window_measured(
        self, concurrency: int, index: int, window: Window, verdict: Verdict
    ) -> None: ...

    def level_finished(self, level: LevelResult, result: SweepResult) -> None:
        """`result` holds every level so far, this one included."""

    def sweep_ended(self, result: SweepResult) -> None: ...


class SweepEvents:
    """Hands each event to every listener that has a method for it."""

    def __init__(self, listeners: Iterable[object] = ()) -> None:
        self.listeners = list(listeners)

    def subscribe(self, listener: object) -> None:
        self.listeners.append(listener)

    def model_read(self, model_config: Mapping[str, Any]) -> None:
        self._tell("model_read", model_config)

    def sweep_started(self, settings: SweepSettings) -> None:
        self._tell("sweep_started", settings)

    def level_started(self, concurrency: int) -> None:
        self._tell("level_started", concurrency)

    def window_measured(
        self, concurrency: int, index: int, window: Window, verdict: Verdict
    ) -> None:
        self._tell("window_measured", concurrency, index, window, verdict)

    def level_finished(self, level: LevelResult, result: SweepResult) -> None:
        self._tell("level_finished", level, result)

    def sweep_ended(self, result: SweepResult) -> None:
        self._tell("sweep_ended", result)

    def _tell(self, event: str, *args: object) -> None:
        for listener in list(self.listeners):
            handler = getattr(listener, event, None)
            if handler is None:
                continue
            try:
                handler(*args)
            except Exception:
                log.exception("%s failed on %s; it hears no more of this sweep", listener, event)
                self.listeners.remove(listener)
