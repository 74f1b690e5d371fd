"""The server's statistics, polled at every window edge, as figures a window may use.

Triton's counters are cumulative since it started: a server restarted mid-level counts
from zero again, and the delta over the window in which it restarted (the new server's
count minus the old one's) is no figure at all, negative once the old server had served
more. Such a poll is given as none: the windows on either side of it have no server
figures, as those of a server without statistics, rather than false ones. (A restart is
seen only when a counter went backwards: a new server that has already served more than
the old one had is not told apart.)"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields

from analysis.server_stats import ServerStats

COUNTERS = tuple(f.name for f in fields(ServerStats))


class RestartAwarePoll:
    def __init__(self, poll: Callable[[], ServerStats]) -> None:
        self._poll = poll
        self._last: ServerStats | None = None

    def __call__(self) -> ServerStats | None:
        stats = self._poll()
        last, self._last = self._last, stats
        if last is not None and any(getattr(stats, c) < getattr(last, c) for c in COUNTERS):
            return None
        return stats
