"""A long level's memory stays flat (issue 12's soak): a window's latencies, 8 bytes a
request, are kept only while the level's figures can still merge them (its last three
windows); older windows keep their figures. Found by bench/soak.py: one process at
concurrency 8 on sleep_5ms (535 infer/s) grew by 0.3 MB a minute, the latencies of every
one-minute window measured so far."""

from __future__ import annotations

from analysis.distribution import ExactLatencies

from .test_sweep_driver import driver


def held_bytes(window) -> int:
    latencies = window.latencies
    return latencies.sorted_ns.nbytes if isinstance(latencies, ExactLatencies) else 0


def test_a_long_level_keeps_only_the_latencies_it_can_still_merge():
    # Latency doubling every other window: the level never settles and runs all 30 windows.
    [level] = (
        driver(lambda c, n: 100.0 * (1 + n % 2), concurrency_end=1, max_trials=30).run().levels
    )
    assert len(level.windows) == 30
    assert all(w.request_count > 0 and w.percentiles_ns for w in level.windows)  # figures kept
    last_three = level.windows[-3:]
    assert level.merged.request_count == sum(w.request_count for w in last_three)
    # Before: every window's latencies, 30 windows' worth, for as long as the sweep ran.
    assert sum(held_bytes(w) for w in level.windows) == sum(held_bytes(w) for w in last_three)


def test_the_consoles_level_so_far_keeps_figures_not_samples():
    from triton_user.outputs.progress import LevelWindows

    [level] = driver(lambda c, n: 100.0, concurrency_end=1, max_trials=3).run().levels
    so_far = LevelWindows()
    so_far.start(1)
    for i, window in enumerate(level.windows, start=1):
        so_far.add(i, window)
    assert [w.percentiles_ns for w in so_far.windows] == [w.percentiles_ns for w in level.windows]
    assert sum(held_bytes(w) for w in so_far.windows) == 0
