"""The end of a sweep: files written by their listener, and the exit status they decide."""

from analysis.exit_codes import EXIT_ERROR, EXIT_OK, EXIT_UNSTABLE, exit_code
from analysis.settings import Outputs
from tests.report_fixtures import sweep_result
from triton_user.outputs import ResultFiles


def ended(outputs: Outputs) -> ResultFiles:
    files = ResultFiles(outputs)
    files.sweep_ended(sweep_result(2))
    return files


def test_a_sweep_that_wrote_its_files_exits_ok(tmp_path):
    files = ended(Outputs(csv=str(tmp_path / "perf.csv")))
    assert (tmp_path / "perf.csv").read_text().startswith("Concurrency,")
    assert files.failed == []
    assert exit_code(sweep_result(2), files_failed=bool(files.failed)) == EXIT_OK


def test_a_file_that_cannot_be_written_at_the_end_fails_the_run_but_not_the_others(
    tmp_path, capsys
):
    blocked = tmp_path / "taken"
    blocked.write_text("a file where the CSV's folder should be")
    files = ended(Outputs(csv=str(blocked / "perf.csv"), json=str(tmp_path / "perf.json")))
    assert files.failed == [str(blocked / "perf.csv")]
    assert (tmp_path / "perf.json").exists()
    assert exit_code(sweep_result(2), files_failed=True) == EXIT_ERROR
    assert f"cannot write {blocked / 'perf.csv'}: {blocked} is not a folder" in (
        capsys.readouterr().err
    )


def test_an_unstable_level_exits_1_and_an_error_outranks_it():
    result = sweep_result(2, unstable=2)
    assert exit_code(result) == EXIT_UNSTABLE
    result.stop_reason = "error: server statistics unavailable"
    assert exit_code(result) == EXIT_ERROR
