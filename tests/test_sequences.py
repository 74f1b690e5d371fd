"""The sequence manager (analysis/sequences.py) and the sequence flags, pure: lengths and
their variation, correlation IDs as perf_analyzer hands them out, START and END, streams,
request-rate mode's sequences, the split of the IDs over Locust workers."""

import statistics

import pytest

from analysis.flag_table import FLAGS, from_values
from analysis.sequences import SequenceManager, SlotChooser, share, worker_ids
from analysis.settings import SequenceSettings, SweepSettings, parse_sequence_id_range
from triton_user.requests.inputs import InputError, ModelSignature
from triton_user.requests.sequence_sender import SequenceData


def run(manager, slot, requests):
    return [manager.next(slot) for _ in range(requests)]


def sequences_of(requests):
    """The requests cut into sequences at each START."""
    out = []
    for r in requests:
        if r.start:
            out.append([])
        out[-1].append(r)
    return out


def test_fixed_length_sequences_start_and_end_on_their_first_and_last_request():
    manager = SequenceManager(SequenceSettings(length=5, length_variation=0), slots=1)
    got = sequences_of(run(manager, 0, 15))
    assert [len(s) for s in got] == [5, 5, 5]
    for seq in got:
        assert [r.start for r in seq] == [True, False, False, False, False]
        assert [r.end for r in seq] == [False, False, False, False, True]
        assert len({r.sequence_id for r in seq}) == 1
    assert [s[0].sequence_id for s in got] == [1, 2, 3]


def test_lengths_vary_within_the_variation_and_repeat_with_the_seed():
    settings = SequenceSettings(length=20, length_variation=20)
    lengths = [SequenceManager(settings, 1, seed=7).random_length() for _ in range(3)]
    assert len(set(lengths)) == 1  # one seed, one draw
    manager = SequenceManager(settings, 1, seed=7)
    drawn = [manager.random_length() for _ in range(2000)]
    # +/- 20% of 20 is +/- 4, truncated toward zero: +/- 4 only at the very ends.
    assert set(drawn) == set(range(17, 24))
    assert abs(statistics.mean(drawn) - 20) < 0.3
    other = SequenceManager(settings, 1, seed=8)
    assert [other.random_length() for _ in range(50)] != drawn[:50]


def test_a_variation_that_would_reach_zero_gives_length_one():
    manager = SequenceManager(SequenceSettings(length=2, length_variation=400), 1, seed=1)
    drawn = [manager.random_length() for _ in range(500)]
    assert min(drawn) == 1 and max(drawn) <= 10


def test_ids_wrap_within_the_range():
    settings = SequenceSettings(length=1, length_variation=0, id_start=10, id_range=3)
    manager = SequenceManager(settings, slots=1)
    ids = [r.sequence_id for r in run(manager, 0, 7)]
    # One slot: its own previous ID blocks the next only when they are the same.
    assert ids == [10, 11, 12, 10, 11, 12, 10]


def test_an_id_still_held_is_never_reused_the_slot_keeps_its_own():
    settings = SequenceSettings(length=2, length_variation=0, id_start=1, id_range=3)
    manager = SequenceManager(settings, slots=3)
    firsts = [manager.next(slot) for slot in range(3)]
    assert [r.sequence_id for r in firsts] == [1, 2, 3]
    # Slot 0 ends its sequence; the counter gives 1 again (4 % 3 + 1), held by slot 0
    # itself: perf_analyzer's rule keeps the slot's previous ID, which no other holds.
    assert manager.next(0).end
    again = manager.next(0)
    assert again.start and again.sequence_id == 1
    # Slot 1's next new sequence: counter gives 2 (its own) -> 2; never 3 (slot 2's).
    manager.next(1)
    assert manager.next(1).sequence_id == 2
    live = [manager.next(slot).sequence_id for slot in range(3)]
    assert len(set(live)) == 3


def test_ids_of_many_slots_are_never_shared_while_live():
    settings = SequenceSettings(length=4, length_variation=50, id_start=5, id_range=6)
    manager = SequenceManager(settings, slots=5, seed=3)
    rng_order = [0, 3, 1, 4, 2, 2, 0, 1, 3, 4] * 200
    for slot in rng_order:
        manager.next(slot)
        live = [s.sequence_id for s in manager._statuses if s.remaining > 0]
        assert len(live) == len(set(live))
        assert all(5 <= i < 11 for i in live)


def test_finish_ends_a_sequence_under_way_and_nothing_when_none():
    manager = SequenceManager(SequenceSettings(length=10, length_variation=0), slots=2)
    assert manager.finish(0) is None
    first = manager.next(0)
    end = manager.finish(0)
    assert end is not None and end.end and not end.start
    assert end.sequence_id == first.sequence_id
    assert manager.finish(0) is None
    assert manager.next(0).start


def test_streams_give_their_length_and_their_steps_in_order():
    manager = SequenceManager(SequenceSettings(), slots=1, stream_lengths=(3, 5), seed=2)
    got = sequences_of(run(manager, 0, 200))[:-1]
    streams = set()
    for seq in got:
        stream = seq[0].stream
        streams.add(stream)
        assert len(seq) == (3, 5)[stream]
        assert [r.step for r in seq] == list(range(len(seq)))
        assert {r.stream for r in seq} == {stream}
    assert streams == {0, 1}  # picked at random per sequence


def test_a_given_length_over_streams_wraps_their_steps():
    settings = SequenceSettings(length=7, length_specified=True, length_variation=0)
    manager = SequenceManager(settings, slots=1, stream_lengths=(3,))
    seq = sequences_of(run(manager, 0, 7))[0]
    assert [r.step for r in seq] == [0, 1, 2, 0, 1, 2, 0]
    assert seq[-1].end


def test_rate_mode_users_share_the_sequences_as_perf_analyzer_threads_do():
    # --num-of-sequences 5 over 2 users: 3 and 2, the first ones one longer.
    assert [list(share(5, i, 2)) for i in range(2)] == [[0, 1, 2], [3, 4]]
    assert [len(share(4, i, 4)) for i in range(4)] == [1, 1, 1, 1]
    chooser = SlotChooser([0, 1, 2], serial=False, seed=1)
    picks = [chooser.next() for _ in range(600)]
    assert set(picks) == {0, 1, 2}
    assert picks[:12] != [0, 1, 2] * 4  # at random


def test_serial_sequences_take_each_in_turn():
    chooser = SlotChooser([3, 4], serial=True)
    assert [chooser.next() for _ in range(5)] == [3, 4, 3, 4, 3]


def test_workers_get_disjoint_parts_of_the_id_range():
    settings = SequenceSettings(id_start=100, id_range=10)
    parts = [worker_ids(settings, i, 3) for i in range(3)]
    assert parts == [(100, 4), (104, 3), (107, 3)]
    ids = [set(range(s, s + n)) for s, n in parts]
    assert set().union(*ids) == set(range(100, 110))
    assert sum(len(i) for i in ids) == 10
    with pytest.raises(ValueError, match="cannot be split over 11"):
        worker_ids(settings, 0, 11)


def test_sequence_id_range_parses_as_perf_analyzer_does():
    assert parse_sequence_id_range("5") == (5, 2**32 - 1)
    assert parse_sequence_id_range("5:9") == (5, 4)
    for text, words in [
        ("1:2:3", "does not match <start:end>"),
        ("-1:4", "must be >= 0"),
        ("9:5", "'end' value must be greater than 'start'"),
        ("5:5", "'end' value must be greater than 'start'"),
        ("0:5", "ID 0 means no sequence"),
        ("a:b", "expected START"),
    ]:
        with pytest.raises(ValueError, match=words):
            parse_sequence_id_range(text)


def settings_of(**given):
    values = {f.dest: f.default for f in FLAGS}
    values.update(model="accumulator", **given)
    return from_values(values.get)[0]


def test_the_flags_fill_the_sequence_settings():
    default = settings_of()
    assert default.sequence == SequenceSettings()
    given = settings_of(
        sequence_length=7,
        sequence_length_variation=0.0,
        sequence_id_range="3:103",
        num_of_sequences=6,
        serial_sequences=True,
        request_rate_range="10",
    )
    assert given.sequence == SequenceSettings(7, True, 0.0, 3, 100, 6, True)
    assert SweepSettings.from_dict(given.to_dict()) == given


@pytest.mark.parametrize(
    "given, words",
    [
        ({"sequence_length": 0}, "--sequence-length 0: must be > 0"),
        ({"sequence_length_variation": -1.0}, "--sequence-length-variation. The value must"),
        ({"num_of_sequences": 0}, "--num-of-sequences. The value must be > 0"),
        (
            {"sequence_id_range": "1:3", "concurrency_range": "1:4"},
            "smaller than the maximum possible concurrency",
        ),
        (
            {"sequence_id_range": "1:3", "request_rate_range": "5", "num_of_sequences": 4},
            "smaller than the maximum possible number of sequences",
        ),
    ],
)
def test_bad_sequence_flags_are_one_line(given, words):
    with pytest.raises(ValueError, match=words) as caught:
        settings_of(**given)
    assert "\n" not in str(caught.value)


def test_a_sequence_model_is_sent_asynchronously_unless_sync_is_given():
    # perf_analyzer.cc: on a sequence model --async becomes the default, --sync keeps it off.
    made = settings_of(concurrency_range="1:4").for_sequence_model()
    assert made.calls == "async" and made.rate.max_threads == 16  # its async default
    assert settings_of(concurrency_range="1:20").for_sequence_model().rate.max_threads == 20
    kept = settings_of(concurrency_range="1:4", sync_calls=True)
    assert kept.for_sequence_model() == kept and kept.calls == "sync"


def test_at_a_request_rate_a_sequence_model_stays_synchronous():
    paced = settings_of(request_rate_range="100")
    assert paced.for_sequence_model() == paced
    with pytest.raises(ValueError, match="--async at a request rate with a sequence model"):
        settings_of(request_rate_range="100", async_calls=True).for_sequence_model()


def test_an_open_ended_range_is_refused_for_a_sequence_model_as_perf_analyzer_refuses_it():
    open_ended = settings_of(concurrency_range="1:0", latency_threshold_ms=50)
    with pytest.raises(ValueError, match="The 'end' concurrency can not be 0 for sequence"):
        open_ended.for_sequence_model()


def test_a_batching_sequence_model_refuses_a_batch_size_above_one_in_perf_analyzers_words():
    signature = ModelSignature("seq", 8, (("INPUT0", "INT32", (1,)),), ("OUTPUT0",), sequence=True)
    with pytest.raises(InputError, match=r"^-b 2: can not specify batch size > 1 when using a s"):
        SequenceData.build(settings_of(batch_size=2), signature)
