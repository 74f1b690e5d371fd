"""The end of a sweep inside Locust: files written, and the exit status they decide."""

import io

from locust.env import Environment

from analysis.settings import Outputs
from tests.report_fixtures import sweep_result
from triton_user.sweep.locust_sweep import EXIT_ERROR, EXIT_OK, LocustSweep


def finished_sweep(outputs: Outputs) -> LocustSweep:
    result = sweep_result(2)
    sweep = LocustSweep(Environment(), result.settings, outputs, out=io.StringIO())
    sweep.result = result
    sweep._finish()
    return sweep


def test_a_sweep_that_wrote_its_files_exits_ok(tmp_path):
    sweep = finished_sweep(Outputs(csv=str(tmp_path / "perf.csv")))
    assert (tmp_path / "perf.csv").read_text().startswith("Concurrency,")
    assert sweep.unwritten == []
    assert sweep.exit_code == EXIT_OK
    assert sweep.environment.process_exit_code is None  # Locust's own rules stand


def test_a_file_that_cannot_be_written_at_the_end_fails_the_run_but_not_the_others(
    tmp_path, capsys
):
    blocked = tmp_path / "taken"
    blocked.write_text("a file where the CSV's folder should be")
    sweep = finished_sweep(Outputs(csv=str(blocked / "perf.csv"), json=str(tmp_path / "perf.json")))
    assert sweep.unwritten == [str(blocked / "perf.csv")]
    assert (tmp_path / "perf.json").exists()
    assert sweep.exit_code == EXIT_ERROR
    assert sweep.environment.process_exit_code == EXIT_ERROR  # `locust -f` exits with it
    assert f"cannot write {blocked / 'perf.csv'}: {blocked} is not a folder" in (
        capsys.readouterr().err
    )
