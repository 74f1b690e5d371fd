"""The README says what the code does: its flag table is the code's table."""

from pathlib import Path

from triton_locust.pa_flags import flag_table_markdown

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readme_flag_table_is_the_code_s():
    assert flag_table_markdown() in README.read_text()
