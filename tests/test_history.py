"""The history of scheduled runs: every run recorded with its plan, settings, server
version, model config, checks and results, read back as it went in; `triton-locust
history` lists the runs, `history report` draws their trend. SQLite in a temporary folder
for the pure tests; a real PostgreSQL server (Debian's package) for a team's history."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from sqlalchemy import delete, update

from analysis.checks import BASELINE, CheckResult
from analysis.report.trend import trend_html
from analysis.results import LevelResult, SweepResult
from analysis.run_record import RunRecord
from analysis.settings import SweepSettings
from analysis.stabiliser import Spread, Verdict
from analysis.window import merge
from tests.postgres_service import PASSWORD, postgres_url  # noqa: F401
from tests.synthetic import window
from triton_locust.cli import main
from triton_locust.history import HistoryError, meta_table, open_history, runs_table

PLAN = "scenarios:\n  nightly:\n    model: m\n    concurrency: 1:4\n"
# Per level: (concurrency, requests in each one-second window = infer/sec, latency usec).
CURVE = ((1, 100, 1000), (2, 190, 1050), (4, 200, 2000))


def results(levels=CURVE, started_at="2026-11-25T02:00:00+0000", stop_reason="completed"):
    """A results file's content: each level three identical one-second windows."""
    sweep = SweepResult(
        SweepSettings(model="m", model_version="2", percentile=95),
        stop_reason=stop_reason,
        started_at=started_at,
        server_version="2.51.0",
    )
    for c, count, latency_us in levels:
        windows = [window(count, latency_us, percentile=95) for _ in range(3)]
        sweep.levels.append(
            LevelResult(c, Verdict.STABLE, windows, merge(windows, 95), Spread(1.0, 1.0))
        )
    return json.loads(json.dumps(sweep.to_dict()))  # as read back from the file


def record(
    started_at="2026-11-25T02:00:00+0000",
    scenario="nightly",
    stop_reason="completed",
    exit_code=0,
    levels=CURVE,
    checks=None,
):
    if checks is None:
        checks = [CheckResult("p95 < 50ms at concurrency 2", True, "p95 at concurrency 2: 1.1 ms")]
    return RunRecord(
        scenario=scenario,
        started_at=started_at,
        exit_code=exit_code,
        result=results(levels, started_at, stop_reason),
        checks=list(checks),
        plan_path="plans/nightly.yaml",
        plan_text=PLAN,
        model_config={"name": "m", "max_batch_size": 8, "instance_group": [{"count": 2}]},
        tool_version="0.1.0",
        batch="batch-1",
    )


NIGHTS = [
    record("2026-11-24T02:00:00+0000"),
    record(
        "2026-11-25T02:00:00+0000",
        stop_reason="interrupted",
        exit_code=130,
        levels=CURVE[:2],
        checks=(
            CheckResult("p95 < 50ms at concurrency 2", True, "1.1 ms"),
            CheckResult("baseline at concurrency 2", False, "throughput -12%", BASELINE),
        ),
    ),
    record("2026-11-26T02:00:00+0000", levels=((1, 110, 900), (2, 210, 950), (4, 230, 1800))),
]


@pytest.fixture
def history_file(tmp_path) -> str:
    return str(tmp_path / "results" / "history.sqlite")


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


# -- the store -------------------------------------------------------------------------------


def test_a_record_comes_back_as_it_went_in(history_file):
    original = NIGHTS[1]
    with open_history(history_file) as history:
        new_id = history.add(original)
        (back,) = history.runs()
    assert back == dataclasses.replace(original, id=new_id)
    assert back.checks[1] == CheckResult(
        "baseline at concurrency 2", False, "throughput -12%", BASELINE
    )
    assert [lvl.concurrency for lvl in back.sweep().levels] == [1, 2]
    assert (back.model, back.model_version, back.server_version) == ("m", "2", "2.51.0")


def test_runs_come_back_oldest_first_whatever_order_they_were_added_in(history_file):
    with open_history(history_file) as history:
        ids = [history.add(r) for r in (NIGHTS[2], NIGHTS[0], NIGHTS[1])]
        history.add(record("2026-11-23T02:00:00+0000", scenario="other"))
        nightly = history.runs("nightly")
        everything = history.runs()
    assert ids == [1, 2, 3]
    assert [r.id for r in nightly] == [2, 3, 1]
    assert [r.started_at[:10] for r in everything] == [
        "2026-11-23",
        "2026-11-24",
        "2026-11-25",
        "2026-11-26",
    ]


def test_latest_is_the_newest_finished_run_never_a_partial_one(history_file):
    with open_history(history_file) as history:
        first = history.add(NIGHTS[0])
        history.add(NIGHTS[1])  # newer, but interrupted
        latest = history.latest("nightly")
        assert history.latest("no such scenario") is None
    assert latest is not None and latest.id == first and latest.finished


def test_a_scenario_with_only_partial_runs_has_no_latest(history_file):
    with open_history(history_file) as history:
        history.add(NIGHTS[1])
        assert history.latest("nightly") is None


def test_the_history_keeps_its_runs_between_runs(history_file):
    with open_history(history_file) as history:
        history.add(NIGHTS[0])
    with open_history(history_file) as history:
        history.add(NIGHTS[2])
        assert [r.id for r in history.runs()] == [1, 2]


def test_an_infinite_figure_is_stored_as_null_as_the_results_file_writes_it(history_file):
    odd = dataclasses.replace(NIGHTS[0], model_config={"rate": float("inf"), "n": [float("nan")]})
    with open_history(history_file) as history:
        history.add(odd)
        assert history.runs()[0].model_config == {"rate": None, "n": [None]}


def test_a_history_written_in_a_newer_format_is_refused_in_one_line(history_file):
    with open_history(history_file) as history, history._engine.begin() as conn:
        conn.execute(update(meta_table).values(value="triton-locust-history/99"))
    with pytest.raises(HistoryError, match="format 'triton-locust-history/99'"):
        open_history(history_file)


@pytest.mark.parametrize(
    "target, words",
    [
        ("", "no file or URL given"),
        ("mysql://u:pw-x@db/h", "mysql:// is not supported"),
        ("postgresql://u:pw-x@db:notaport/h", "not a valid database URL"),
        ("postgresql://u:pw-x@127.0.0.1:1/h", "Connection refused"),
        ("sqlite://", "no file named"),
    ],
)
def test_a_history_that_cannot_be_opened_is_one_line_naming_it_password_masked(target, words):
    with pytest.raises(HistoryError) as caught:
        open_history(target)
    message = one_line(str(caught.value))
    assert words in message
    assert "pw-x" not in message
    if target:
        assert re.sub(r":pw-x@", ":***@", target) in message


def test_a_folder_or_a_file_that_is_not_a_database_is_refused(tmp_path):
    (tmp_path / "notes.sqlite").write_text("not a database\n" * 100)
    for target, words in ((tmp_path, "is a folder"), (tmp_path / "notes.sqlite", "not a data")):
        with pytest.raises(HistoryError, match=words):
            open_history(str(target))


# -- `triton-locust history` -----------------------------------------------------------------


def test_history_lists_each_run_with_its_figures_and_how_it_ended(history_file, capsys):
    with open_history(history_file) as history:
        for r in NIGHTS:
            history.add(r)
    assert main(["history", "--history", history_file]) == 0
    header, *rows, note = capsys.readouterr().out.splitlines()
    assert (
        header.split()
        == (
            "id started (UTC) scenario model (version) server levels max infer/s knee checks "
            "exit status"
        ).split()
    )
    assert rows[0].split() == (
        "1 2026-11-24 02:00:00 nightly m (2) 2.51.0 3 200.0 2 1/1 0 finished".split()
    )
    # Two levels only: the curve had not bent yet, its knee is beyond them.
    assert rows[1].split()[-7:] == "2 190.0 >2 1/2 130 partial (interrupted)".split()
    assert rows[2].split()[7:9] == ["3", "230.0"]
    assert note.startswith("knee >N: the curve had not bent by the last level")


def test_history_lists_one_scenario(history_file, capsys):
    with open_history(history_file) as history:
        history.add(NIGHTS[0])
        history.add(record(scenario="weekly"))
    assert main(["history", "--history", history_file, "--scenario", "weekly"]) == 0
    _, *rows = capsys.readouterr().out.splitlines()
    assert [r.split()[3] for r in rows] == ["weekly"]


def test_a_missing_history_says_so_in_one_line_and_is_not_created(tmp_path, capsys):
    target = tmp_path / "results" / "history.sqlite"
    assert main(["history", "--history", str(target)]) == 0
    assert one_line(capsys.readouterr().out) == f"history {target}: no runs recorded yet"
    assert not target.exists() and not target.parent.exists()


def test_an_empty_history_says_so_in_one_line(history_file, capsys):
    open_history(history_file).close()
    assert main(["history", "--history", history_file, "--scenario", "nightly"]) == 0
    assert "no runs of scenario 'nightly' recorded yet" in one_line(capsys.readouterr().out)


def test_a_bad_history_url_is_one_line_exit_2_password_masked(capsys):
    assert main(["history", "--history", "postgresql://u:pw-x@127.0.0.1:1/h"]) == 2
    captured = capsys.readouterr()
    message = one_line(captured.err)
    assert message.startswith("triton-locust history: error: history postgresql://u:***@")
    assert "pw-x" not in captured.err + captured.out


@pytest.mark.parametrize(
    "args, words",
    [
        (["history", "--bogus"], "unrecognized arguments: --bogus"),
        (["history", "report", "--bogus"], "unrecognized arguments: --bogus"),
        (["history", "repor"], "invalid choice: 'repor'"),
        (["history", "report", "-o"], "expected one argument"),
    ],
)
def test_bad_history_flags_are_one_line_and_exit_2(args, words, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(args)
    assert stopped.value.code == 2
    assert words in one_line(capsys.readouterr().err)


# -- `triton-locust history report` ----------------------------------------------------------


def page_data(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page)
    assert found
    return json.loads(found.group(1).replace("<\\/", "</"))


def words_of(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


@pytest.fixture(scope="module")
def trend_page() -> str:
    """The three nights, as the store gives them back (ids set)."""
    return trend_html(
        [dataclasses.replace(r, id=i) for i, r in enumerate(NIGHTS, 1)], "results/history.sqlite"
    )


def test_the_trend_report_holds_the_three_runs(trend_page):
    (runs,) = page_data(trend_page)["scenarios"].values()
    assert [r["id"] for r in runs] == [1, 2, 3]
    assert [r["finished"] for r in runs] == [True, False, True]
    assert [lvl["throughput"] for lvl in runs[2]["summary"]["levels"]] == [110, 210, 230]
    words = words_of(trend_page)
    for night in ("2026-11-24 02:00:00", "2026-11-25 02:00:00", "2026-11-26 02:00:00"):
        assert night in words
    assert "history results/history.sqlite" in words


def test_the_trend_draws_each_concurrency_over_time_and_the_recommendation(trend_page):
    assert trend_page.count("<svg") == 1  # one figure for the one scenario
    for title in ("Throughput at each concurrency", "p95 latency", "Recommended concurrency"):
        assert title in trend_page
    for c in (1, 2, 4):
        assert f"c={c}" in trend_page  # a line per concurrency
    hover = words_of(trend_page)
    assert "run 3, 2026-11-26 02:00:00 UTC: concurrency 4: 230 infer/sec, p95 latency" in hover
    assert "run 1, 2026-11-24 02:00:00 UTC: knee: concurrency" in hover


def test_a_partial_run_is_drawn_hollow_and_said_so(trend_page):
    assert "run 2, 2026-11-25 02:00:00 UTC, partial (interrupted): concurrency 2" in trend_page
    assert "Hollow markers: partial runs" in trend_page
    assert "partial (interrupted)" in words_of(trend_page)
    assert "baseline at concurrency 2 (throughput -12%)" in words_of(trend_page)  # failed


def test_the_same_runs_give_the_same_page(trend_page):
    again = trend_html(
        [dataclasses.replace(r, id=i) for i, r in enumerate(NIGHTS, 1)], "results/history.sqlite"
    )
    assert again == trend_page


def test_runs_without_a_reported_level_are_listed_not_drawn():
    empty = dataclasses.replace(
        record(stop_reason="error: server unreachable", exit_code=4, levels=()), id=7
    )
    page = trend_html([empty], "h.sqlite")
    assert "<svg" not in page
    assert "No run of this scenario reported a level to draw." in page
    assert "partial (error: server unreachable)" in words_of(page)


def test_an_empty_history_gives_a_page_that_says_so():
    assert "No runs recorded yet." in trend_html([], "h.sqlite")


def test_history_report_writes_the_page_and_prints_its_path(history_file, tmp_path, capsys):
    with open_history(history_file) as history:
        history.add(NIGHTS[0])
    out = tmp_path / "trend.html"
    # --history after `report` too: the flags read the same on either side of it.
    assert main(["history", "report", "--history", history_file, "-o", str(out)]) == 0
    assert capsys.readouterr().out == f"Trend: {out}\n"
    assert [r["id"] for r in page_data(out.read_text())["scenarios"]["nightly"]] == [1]


def test_history_report_to_a_path_it_cannot_write_is_one_line(history_file, tmp_path, capsys):
    open_history(history_file).close()
    (tmp_path / "file").write_text("")
    target = str(tmp_path / "file" / "trend.html")
    assert main(["history", "--history", history_file, "report", "-o", target]) == 2
    assert f"cannot write {target}" in one_line(capsys.readouterr().err)


# -- a team's history in PostgreSQL ----------------------------------------------------------


@pytest.mark.server
def test_a_team_history_in_postgresql(postgres_url, tmp_path, capsys):  # noqa: F811
    with open_history(postgres_url) as history:
        ids = [history.add(r) for r in NIGHTS]
        assert history.runs()[1] == dataclasses.replace(NIGHTS[1], id=ids[1])
        latest = history.latest("nightly")
        assert latest is not None and latest.id == ids[2]

    # The driver named, as SQLAlchemy spells it; JSON without NaN, which PostgreSQL refuses.
    with open_history(postgres_url.replace("postgresql://", "postgresql+psycopg://")) as history:
        assert [r.id for r in history.runs()] == ids
        odd = history.add(dataclasses.replace(NIGHTS[0], model_config={"n": float("nan")}))
        assert {r.id: r.model_config for r in history.runs()}[odd] == {"n": None}
    with open_history(postgres_url) as history, history._engine.begin() as conn:
        conn.execute(delete(runs_table).where(runs_table.c.id == odd))

    assert main(["history", "--history", postgres_url]) == 0
    listing = capsys.readouterr().out
    _, *rows, _ = listing.splitlines()
    assert [int(r.split()[0]) for r in rows] == ids
    assert rows[1].endswith("partial (interrupted)")

    out = tmp_path / "trend.html"
    assert main(["history", "report", "--history", postgres_url, "-o", str(out)]) == 0
    page = out.read_text()
    assert [r["id"] for r in page_data(page)["scenarios"]["nightly"]] == ids
    assert PASSWORD not in page + listing
    assert postgres_url.replace(PASSWORD, "***") in words_of(page)


@pytest.mark.server
def test_a_wrong_postgresql_password_is_one_line_without_it(postgres_url, capsys):  # noqa: F811
    wrong = postgres_url.replace(PASSWORD, "not-the-pw")
    assert main(["history", "--history", wrong]) == 2
    message = one_line(capsys.readouterr().err)
    assert "password authentication failed" in message
    assert "not-the-pw" not in message
    assert wrong.replace("not-the-pw", "***") in message


@pytest.mark.server
def test_the_password_may_come_from_pgpassword_not_the_url(postgres_url, monkeypatch, capsys):  # noqa: F811
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    assert main(["history", "--history", postgres_url.replace(f":{PASSWORD}@", "@")]) == 0
    assert "error" not in capsys.readouterr().err
