"""Result files: whether one can be written is known before a sweep starts."""

import os

import pytest

from analysis.atomic_write import check_writable, write_text


def test_a_writable_path_makes_its_folders_and_leaves_nothing_behind(tmp_path):
    target = tmp_path / "runs" / "today" / "perf.csv"
    check_writable(target)
    assert (tmp_path / "runs" / "today").is_dir()
    assert os.listdir(tmp_path / "runs" / "today") == []


def test_a_file_in_the_way_of_the_folder_is_named(tmp_path):
    (tmp_path / "results").write_text("not a folder")
    with pytest.raises(NotADirectoryError, match=f"{tmp_path / 'results'} is not a folder"):
        check_writable(tmp_path / "results" / "daily" / "perf.csv")


def test_a_folder_is_not_a_file_to_write(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder"):
        check_writable(tmp_path)


def test_writing_through_a_file_in_the_way_names_it_too(tmp_path):
    (tmp_path / "results").write_text("not a folder")
    with pytest.raises(NotADirectoryError, match="results is not a folder"):
        write_text(tmp_path / "results" / "perf.csv", "x")


def test_a_fifo_is_refused_before_the_sweep_and_never_replaced(tmp_path):
    fifo = tmp_path / "perf.csv"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match=f"{fifo} is not a regular file \\(a FIFO\\)"):
        check_writable(fifo)
    with pytest.raises(OSError, match="is not a regular file"):
        write_text(fifo, "x")
    assert fifo.is_fifo()
    assert os.listdir(tmp_path) == ["perf.csv"]
