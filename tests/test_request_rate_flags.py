"""Request-rate mode's flags: perf_analyzer's spellings, defaults and rules; each reaches a
Locust worker unchanged; a mistake is one line naming the flag."""

from __future__ import annotations

from dataclasses import fields

import pytest

from analysis.flag_table import NOT_YET
from analysis.settings import RateSettings, SweepSettings
from tests.test_flag_table import (
    INTERVALS_ARGV,
    NON_DEFAULT_ARGV,
    RATE_ARGV,
    profile_args,
    what_a_worker_builds,
)
from triton_locust.pa_flags import from_pa_namespace
from triton_user.options import locust_namespace


def settings_of(*argv: str) -> SweepSettings:
    return from_pa_namespace(profile_args(["-m", "m", *argv]))[0]


def without_concurrency(argv: dict[str, list[str]]) -> list[str]:
    # The table's --async comes with --client-io gevent, which refuses RATE_ARGV's
    # --max-threads; --async at a rate (and --streaming) is tests/test_async_rate.py's.
    concurrency_only = ("concurrency_range", "async_calls", "streaming")
    return [a for dest, v in argv.items() if dest not in concurrency_only for a in v]


def test_every_rate_setting_reaches_a_worker_unchanged():
    ns = profile_args(without_concurrency({**NON_DEFAULT_ARGV, **RATE_ARGV}))
    settings, outputs = from_pa_namespace(ns)
    assert settings.rate == RateSettings(50.5, 200.0, 25.0, "poisson", "", 12)
    for f in fields(RateSettings):
        if f.name != "intervals_file":
            assert getattr(settings.rate, f.name) != f.default, f"{f.name} left at its default"
    assert what_a_worker_builds(locust_namespace(ns)) == (settings, outputs)


def test_an_intervals_file_is_one_level_at_its_mean_rate(tmp_path):
    intervals = tmp_path / "intervals.txt"
    intervals.write_text("1000\n3000\n\n")  # 2 requests every 4 ms: 500/s
    argv = {**NON_DEFAULT_ARGV, **INTERVALS_ARGV}
    argv["request_intervals"] = ["--request-intervals", str(intervals)]
    del argv["binary_search"]  # one level: nothing to search (refused with one line)
    ns = profile_args(without_concurrency(argv))
    settings, outputs = from_pa_namespace(ns)
    assert settings.rate.intervals_file == str(intervals)
    assert list(settings.rate.rates()) == [500.0]
    assert what_a_worker_builds(locust_namespace(ns)) == (settings, outputs)


def test_perf_analyzers_defaults():
    rate = settings_of("--request-rate-range", "100").rate
    assert rate == RateSettings(start=100.0, end=1.0, step=1.0, distribution="constant")
    assert rate.max_threads == 4  # perf_analyzer's default with --request-rate-range
    assert list(rate.rates()) == [100.0]  # a lone START is one level
    assert not settings_of().rate_mode


def test_rates_step_as_perf_analyzers_float_sum():
    assert list(settings_of("--request-rate-range", "10:30:10").rate.rates()) == [10, 20, 30]
    # 0.1 + 0.1 + 0.1 > 0.3 in doubles: perf_analyzer's do-while stops at 0.2 too.
    assert list(settings_of("--request-rate-range", "0.1:0.3:0.1").rate.rates()) == [0.1, 0.2]
    unbounded = settings_of("--request-rate-range", "5:0:5", "-l", "10").rate.rates()
    assert [next(unbounded) for _ in range(4)] == [5, 10, 15, 20]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--concurrency-range", "1:4", "--request-rate-range", "10"], "one load mode at a time"),
        (["--request-rate-range", "0"], "START must be above 0"),
        (["--request-rate-range", "10:20:0"], "STEP must be above 0"),
        (["--request-rate-range", "ten"], "--request-rate-range 'ten'"),
        (["--request-rate-range", "1:2:3:4"], "--request-rate-range"),
        (["--request-rate-range", "10:0"], "END 0 needs -l/--latency-threshold"),
        (["--request-rate-range", "10", "--max-threads", "0"], "--max-threads must be at least 1"),
        (["--request-intervals", "/no/such/file"], "--request-intervals '/no/such/file'"),
    ],
)
def test_mistakes_are_one_line_naming_the_flag(argv, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")) as exc:
        settings_of(*argv)
    assert "\n" not in str(exc.value)


def test_an_intervals_file_of_other_than_microseconds_is_refused(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("100\n1.5\n")
    with pytest.raises(ValueError, match="line 2: expected a whole number"):
        settings_of("--request-intervals", str(bad))
    both = ["--request-intervals", str(bad), "--request-rate-range", "10"]
    with pytest.raises(ValueError, match="one load mode at a time"):
        settings_of(*both)


def test_the_distribution_is_perf_analyzers_choice():
    with pytest.raises(SystemExit):  # argparse's choices: one line and exit 2
        profile_args(["-m", "m", "--request-distribution", "uniform"])


def test_request_rate_flags_are_taken_not_refused():
    assert not {"--request-rate-range", "--request-intervals"} & set(NOT_YET)
    assert "--binary-search" not in NOT_YET  # taken, in request-rate mode too


def test_a_results_file_from_before_request_rate_reads_as_concurrency_mode():
    data = SweepSettings(model="m").to_dict()
    del data["rate"]
    assert SweepSettings.from_dict(data).rate == RateSettings()
