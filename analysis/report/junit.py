"""JUnit XML for a scheduled run, as Jenkins and GitLab read it: one test suite per scenario,
one test case per check (an SLO, or a level against the baseline). A sweep that did not
finish adds an errored "sweep" case, so a broken run never shows green; a scenario without
checks gets a passing "sweep" case, so it shows at all."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from analysis.checks import CheckResult
from analysis.exit_codes import EXIT_ERROR, EXIT_INTERRUPTED, RUN_EXIT_MEANINGS
from analysis.run_record import RunRecord

SWEEP_CASE = "sweep"

# XML 1.0 cannot carry these even escaped; an error's text (a stop reason) may hold them.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def sweep_problem(record: RunRecord) -> str | None:
    """Why this scenario's sweep is broken, in words, or None when it ran as planned.

    Not finished (interrupted, an error, no results at all), or an exit code that says so
    even though the sweep itself ended (3: a file not written)."""
    code = record.exit_code
    if record.finished and code not in (EXIT_ERROR, EXIT_INTERRUPTED):
        return None
    if not record.finished:  # the stop reason says why; the code's meaning would repeat it
        return f"the sweep did not finish: {record.stop_reason or 'no results'} (exit code {code})"
    meaning = dict(RUN_EXIT_MEANINGS).get(code)
    return f"the sweep ended, but with exit code {code}" + (f": {meaning}" if meaning else "")


def junit_xml(scenarios: list[RunRecord]) -> str:
    """The run's JUnit XML, UTF-8 with its declaration; the same records give the same bytes."""
    root = ET.Element("testsuites", name="triton-locust")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for record in scenarios:
        suite = _suite(record)
        root.append(suite)
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True).decode("utf-8") + "\n"


def _suite(record: RunRecord) -> ET.Element:
    suite = ET.Element("testsuite", name=_text(record.scenario))
    classname = _text(f"triton-locust.{record.scenario}")
    cases = [_case(classname, check) for check in record.checks]
    problem = sweep_problem(record)
    if problem is not None:
        case = ET.Element("testcase", classname=classname, name=SWEEP_CASE)
        kind = "interrupted" if record.stop_reason == "interrupted" else "error"
        ET.SubElement(case, "error", message=_text(problem), type=kind).text = _text(problem)
        cases.append(case)
    elif not cases:
        cases.append(ET.Element("testcase", classname=classname, name=SWEEP_CASE))
    failures = sum(1 for c in cases if c.find("failure") is not None)
    errors = sum(1 for c in cases if c.find("error") is not None)
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", "0")
    if record.started_at:
        suite.set("timestamp", _text(record.started_at))
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("model", record.model),
        ("model_version", record.model_version),
        ("server_version", record.server_version),
        ("stop_reason", record.stop_reason),
        ("exit_code", str(record.exit_code)),
    ):
        ET.SubElement(properties, "property", name=name, value=_text(value))
    suite.extend(cases)
    return suite


def _case(classname: str, check: CheckResult) -> ET.Element:
    case = ET.Element("testcase", classname=classname, name=_text(check.name))
    if not check.passed:
        message = _text(check.measured or "failed")
        failure = ET.SubElement(case, "failure", message=message, type=check.kind)
        # The body is what GitLab's test report shows: the check and what it measured.
        failure.text = _text(f"{check.name} failed: {check.measured or 'no measurement'}")
    return case


def _text(s: str) -> str:
    return _NOT_XML.sub("\ufffd", s)
