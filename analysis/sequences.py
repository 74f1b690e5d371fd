"""Sequences for stateful models, handed out as perf_analyzer hands them out
(sequence_manager.cc, infer_context.cc, the context-ID trackers): every sequence slot (a
user in concurrency mode; one of --num-of-sequences in request-rate mode) runs one sequence
after another. A new sequence takes the next correlation ID of the range, wrapping, unless
a live sequence holds that ID (then it keeps its previous one); its length is
--sequence-length within +/- --sequence-length-variation percent, or, with --input-data
streams and no --sequence-length, its stream's length (a stream picked at random per
sequence). Its first request carries START, its last END.

Pure: callers in threads serialise their calls (triton_user/requests/sequence_sender.py)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from analysis.settings import SequenceSettings


@dataclass(frozen=True)
class SequenceRequest:
    """What one request of a sequence carries: its correlation ID, START and END, and the
    data step it sends (stream and step; stream 0, step 0 for generated data)."""

    sequence_id: int
    start: bool
    end: bool
    stream: int = 0
    step: int = 0


@dataclass
class _Status:
    """One slot's sequence: perf_analyzer's SequenceStatus (ID 0: none yet)."""

    sequence_id: int = 0
    stream: int = 0
    remaining: int = 0
    length: int = 0


class SequenceManager:
    """The sequences of `slots` slots (more are added as asked for). `stream_lengths`: the
    steps of each --input-data stream; empty for generated data. `id_start`/`id_range`
    default to the settings' (a Locust worker passes its part, see `worker_ids`)."""

    def __init__(
        self,
        settings: SequenceSettings,
        slots: int = 0,
        stream_lengths: Sequence[int] = (),
        seed: int = 0,
        id_start: int | None = None,
        id_range: int | None = None,
    ) -> None:
        self.settings = settings
        self.id_start = settings.id_start if id_start is None else id_start
        self.id_range = settings.id_range if id_range is None else id_range
        if self.id_range < 1:
            raise ValueError("a sequence ID range must hold at least one ID")
        self._streams = tuple(stream_lengths)
        self._rng = random.Random(seed)
        self._next_id = 0  # perf_analyzer's curr_seq_id_: how many IDs were handed out
        self._statuses: list[_Status] = []
        self.grow(slots)

    @property
    def slots(self) -> int:
        return len(self._statuses)

    def grow(self, slots: int) -> None:
        """At least `slots` slots (a new one has no sequence yet)."""
        while len(self._statuses) < slots:
            self._statuses.append(_Status())

    def live_ids(self) -> set[int]:
        """The IDs of the sequences under way."""
        return {s.sequence_id for s in self._statuses if s.remaining > 0}

    def next(self, slot: int) -> SequenceRequest:
        """The next request of `slot`'s sequence, a new sequence's first when the last ended
        (SetInferSequenceOptions, UpdateSeqJsonData, DecrementRemainingQueries)."""
        self.grow(slot + 1)
        status = self._statuses[slot]
        start = status.remaining == 0
        if start:
            self._new_sequence(status)
        step = 0
        if self._streams:
            step = (status.length - status.remaining) % self._streams[status.stream]
        request = SequenceRequest(
            status.sequence_id, start, status.remaining == 1, status.stream, step
        )
        status.remaining -= 1
        return request

    def finish(self, slot: int) -> SequenceRequest | None:
        """The END of `slot`'s sequence under way, cut short (CompleteOngoingSequence: the
        load stops or the level changes); None when it has none."""
        if slot >= len(self._statuses) or self._statuses[slot].remaining == 0:
            return None
        self._statuses[slot].remaining = 1
        return self.next(slot)

    def _new_sequence(self, status: _Status) -> None:
        status.sequence_id = self._new_id(status.sequence_id)
        if not self._streams:
            status.remaining = self.random_length()
            return
        status.stream = self._rng.randrange(len(self._streams))
        status.length = (
            self.random_length() if self.settings.length_specified else self._streams[status.stream]
        )
        status.remaining = status.length

    def _new_id(self, old: int) -> int:
        """GetNextSeqId: the next ID of the range, wrapping; if a slot holds it still, the
        slot's previous ID again (never one another live sequence has)."""
        candidate = self._next_id % self.id_range + self.id_start
        self._next_id += 1
        if any(s.sequence_id == candidate for s in self._statuses):
            return old
        return candidate

    def random_length(self) -> int:
        """GetRandomSequenceLength: the base length plus an offset uniform in +/- the
        variation, truncated toward zero as its int conversion does; at least 1."""
        base = self.settings.length
        offset = int(self._rng.uniform(-1.0, 1.0) * self.settings.length_variation / 100 * base)
        return max(1, base + offset)


class SlotChooser:
    """Request-rate mode: which of its sequences a user's next request goes to
    (perf_analyzer's context-ID trackers): one at random, or with --serial-sequences each in
    turn. A user sends one request at a time, so a sequence never has two in flight."""

    def __init__(self, slots: Sequence[int], serial: bool, seed: int = 0) -> None:
        if not slots:
            raise ValueError("a user needs at least one sequence slot")
        self.slots = tuple(slots)
        self._serial = serial
        self._rng = random.Random(seed)
        self._turn = 0

    def next(self) -> int:
        if self._serial:
            slot = self.slots[self._turn % len(self.slots)]
            self._turn += 1
            return slot
        return self.slots[self._rng.randrange(len(self.slots))]


def share(total: int, index: int, count: int) -> range:
    """Part `index` of `count` of range(total), as perf_analyzer spreads concurrency and
    sequences over its threads: the first `total % count` parts one longer."""
    if not 0 <= index < count:
        raise ValueError(f"part {index} of {count}: expected 0 <= index < count")
    size, extra = divmod(total, count)
    first = index * size + min(index, extra)
    return range(first, first + size + (1 if index < extra else 0))


def worker_ids(settings: SequenceSettings, index: int, count: int) -> tuple[int, int]:
    """A Locust worker's correlation IDs, (start, how many): part `index` of `count` of the
    range, so no two workers ever send the same ID. Raises ValueError when the range has
    fewer IDs than workers."""
    if settings.id_range < count:
        raise ValueError(
            f"--sequence-id-range: {settings.id_range} IDs cannot be split over {count} Locust "
            "workers without two sharing an ID"
        )
    part = share(settings.id_range, index, count)
    return settings.id_start + part.start, len(part)
